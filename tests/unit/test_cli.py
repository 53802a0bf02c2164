"""The `impacteval` command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from impacteval.reporting.cli import main


def test_demo_spec_ships_with_the_repository() -> None:
    """`impacteval demo` builds examples/peterborough.toml (built and checked end to end in
    tests/reporting/test_reports.py); here only that it is found and valid."""
    from impacteval.reporting import check_spec
    from impacteval.reporting.cli import DEMO_SPEC

    spec, _ = check_spec(DEMO_SPEC)
    assert spec.contract is not None and spec.contract.path.name == "peterborough.toml"
    assert spec.data.paths[0].name == "sib_reoffending.csv"


def test_report_command_reports_a_bad_spec_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text('[report]\ntitle = "t"\nevaluator = "e"\n[design]\ntype = "rdd"\n')
    assert main(["report", str(spec), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "unknown design 'rdd'" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_console_script_entry_point(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "impacteval.reporting.cli", "report", "missing.toml", "-o", "x"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "no report spec file" in done.stderr


def test_report_needs_an_output_folder() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["report", "spec.toml"])
    assert exc.value.code == 2


def test_unknown_command_fails_cleanly() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["nonsense"])
    assert exc.value.code == 2


def test_settle_command_prints_settlement_and_writes_audit(
    tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    inputs = Path(str(tmp_path)) / "inputs.json"
    inputs.write_text(json.dumps({"kmc_babies": 3_100}))
    audit = Path(str(tmp_path)) / "audit.json"
    code = main(
        [
            "settle",
            str(root / "contracts" / "cameroon_kmc.toml"),
            str(inputs),
            "--audit-out",
            str(audit),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "2,430,000.00" in out and "total cap 2430000 binds" in out
    record = json.loads(audit.read_text())
    assert len(record["audit"]["contract_sha256"]) == 64
    assert record["total"] == "2430000.00"
