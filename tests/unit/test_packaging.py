"""impacteval as a real package: the wheel carries its data, contracts and example specs.

``test_wheel_installs_and_runs`` builds the wheel from this checkout (pip, no build
isolation, so no network), installs it with ``--no-deps`` into a fresh virtual environment
under ``tmp_path`` (outside the checkout), and runs the README's five lines and
``impacteval demo`` there. The dependencies (numpy, pandas, ... nbconvert) are borrowed from
the test environment through a ``.pth`` line; that directory's editable-install hook is not
executed (``.pth`` files are only processed in site directories), and the test asserts that
``impacteval`` itself is imported from the new environment, not from the checkout.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FIVE_LINES = """
import impacteval as ie
nsw = ie.datasets.load("nsw_dw")                       # LaLonde's NSW experiment
res = ie.rct.regression(nsw, outcome="re78", treatment="treat",
                        covariates=["age", "educ", "re74", "re75"])   # Lin (2013), HC2
res                                                     # renders a summary table
print("FILE", ie.__file__)
print("ESTIMATE", res.estimate)
print("CONTRACTS", len(list(ie._resources.resource_dir("contracts").glob("*.toml"))))
"""


def test_every_subpackage_is_listed_in_pyproject() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "impacteval").rglob("__init__.py")
    }
    assert on_disk <= listed, f"add to [tool.setuptools] packages: {sorted(on_disk - listed)}"


def test_shipped_resources_are_found_in_the_checkout() -> None:
    from impacteval._resources import resource_dir

    assert (resource_dir("examples") / "peterborough.toml").is_file()
    assert (resource_dir("contracts") / "peterborough.toml").is_file()
    assert (resource_dir("data/sample") / "nsw_dw.csv").is_file()


@pytest.mark.slow
def test_wheel_installs_and_runs(tmp_path: Path) -> None:
    # build from a copy of what the wheel is made of: setuptools writes build/ and
    # *.egg-info next to the sources, and a stale build/ could leak files into the wheel
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("impacteval", "examples", "contracts", "data/sample"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(wheels), str(src)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("impacteval-*.whl")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    Path(purelib, "_impacteval_test_deps.pth").write_text("\n".join(deps) + "\n")
    inst = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
         "--no-index", "-q", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert inst.returncode == 0, inst.stderr[-3000:]

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["MPLBACKEND"] = "Agg"
    # nbconvert's HTML templates are data files of the borrowed environment
    env["JUPYTER_PATH"] = os.pathsep.join(
        [str(Path(sys.prefix, "share", "jupyter")), *filter(None, [env.get("JUPYTER_PATH")])]
    )
    run = subprocess.run(
        [str(py), "-c", FIVE_LINES], capture_output=True, text=True, cwd=tmp_path, env=env,
        timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    out = dict(line.split(" ", 1) for line in run.stdout.splitlines() if " " in line)
    assert Path(out["FILE"]).is_relative_to(env_dir), out["FILE"]
    assert float(out["ESTIMATE"]) > 0 and int(out["CONTRACTS"]) >= 1

    report = tmp_path / "report"
    demo = subprocess.run(
        [str(env_dir / "bin" / "impacteval"), "demo", "-o", str(report)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr[-3000:]
    for name in ("peterborough.ipynb", "peterborough.html"):
        assert (report / name).stat().st_size > 0
