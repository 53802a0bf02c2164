"""The `impacteval` command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from impacteval.reporting.cli import main


def test_demo_prints_the_trial_analysis(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "village-clustered" in out
    assert "difference in means (CR2)" in out
    assert "Rows dropped (missing)" in out  # attrition is visible, not silent
    assert "True effect used by the simulator" in out


def test_console_script_entry_point() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "impacteval.reporting.cli", "demo"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "ATE: endline_level" in done.stdout


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
