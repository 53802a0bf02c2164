"""scripts/check_structure.py on small synthetic packages (not on impacteval itself).

Each rule is exercised by a package that breaks it and one that does not, so the checker
can fail: a function of 121 code lines (docstring excluded) against one of 120, a module
of 801 lines, ``from pkg.a import _private`` and ``from pkg import _module``, and cycles
at module level, inside a function and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_structure.py"


@pytest.fixture(scope="module")
def checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_structure", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_structure"] = module
    spec.loader.exec_module(module)
    return module


def _package(root: Path, files: dict[str, str]) -> Path:
    pkg = root / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for name, text in files.items():
        path = pkg / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return pkg


def _function(n_code: int) -> str:
    body = "".join(f"    x{i} = {i}\n" for i in range(n_code - 2))
    return f'def f():\n    """Doc\n    string."""\n{body}    return 0\n'


def test_function_length_excludes_the_docstring(checker: ModuleType, tmp_path: Path) -> None:
    pkg = _package(tmp_path, {"ok.py": _function(120), "long.py": _function(121)})
    found = checker.check(pkg, 120, 800, [])
    assert len(found.long_functions) == 1
    assert "long.py" in found.long_functions[0] and "121 lines" in found.long_functions[0]


def test_module_length(checker: ModuleType, tmp_path: Path) -> None:
    pkg = _package(tmp_path, {"ok.py": "x = 1\n" * 800, "big.py": "x = 1\n" * 801})
    found = checker.check(pkg, 120, 800, [])
    assert [Path(m.split(":")[0]).name for m in found.long_modules] == ["big.py"]


def test_private_names_and_private_submodules(checker: ModuleType, tmp_path: Path) -> None:
    pkg = _package(
        tmp_path,
        {
            "a.py": "_hidden = 1\nshown = 2\n",
            "_inner.py": "public = 1\n",
            "b.py": "from pkg.a import _hidden, shown\nfrom pkg import _inner\n",
            "c.py": "from pkg._inner import public\nfrom .a import shown\n",
        },
    )
    found = checker.check(pkg, 120, 800, [])
    assert len(found.private_imports) == 2
    assert all("b.py" in p for p in found.private_imports)


@pytest.mark.parametrize(
    ("b_text", "label"),
    [
        ("from pkg import a\n", "module-level"),
        ("def g():\n    from pkg import a\n", "all imports"),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import A\n",
            "all imports",
        ),
    ],
)
def test_cycles_at_module_level_in_functions_and_type_checking(
    checker: ModuleType, tmp_path: Path, b_text: str, label: str
) -> None:
    pkg = _package(tmp_path, {"a.py": "from pkg import b\nA = 1\n", "b.py": b_text})
    found = checker.check(pkg, 120, 800, [])
    assert found.cycles and all(label in c for c in found.cycles[:1])
    assert "pkg.a" in found.cycles[0] and "pkg.b" in found.cycles[0]


def test_one_way_imports_are_not_a_cycle_and_main_exits_zero(
    checker: ModuleType, tmp_path: Path
) -> None:
    pkg = _package(tmp_path, {"a.py": "from pkg import b\n", "b.py": "import math\n"})
    assert checker.check(pkg, 120, 800, []).total() == 0
    assert checker.main(["--root", str(pkg)]) == 0
    bad = _package(tmp_path / "x", {"a.py": "from pkg import b\n", "b.py": "from pkg import a\n"})
    assert checker.main(["--root", str(bad)]) == 1
