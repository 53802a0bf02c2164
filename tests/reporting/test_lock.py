"""Locked analysis plans: a lock verifies unchanged, and lists each kind of deviation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from impacteval.reporting.cli import main
from impacteval.reporting.lock import plan_status, verify_lock, write_lock

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def plan(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the demo spec, contract and data in a scratch folder (same layout)."""
    (tmp_path / "examples").mkdir()
    (tmp_path / "contracts").mkdir()
    (tmp_path / "data" / "sample").mkdir(parents=True)
    spec = tmp_path / "examples" / "peterborough.toml"
    shutil.copy(ROOT / "examples" / "peterborough.toml", spec)
    contract = tmp_path / "contracts" / "peterborough.toml"
    shutil.copy(ROOT / "contracts" / "peterborough.toml", contract)
    shutil.copy(
        ROOT / "data" / "sample" / "sib_reoffending.csv",
        tmp_path / "data" / "sample" / "sib_reoffending.csv",
    )
    return spec, contract


def test_unchanged_plan_verifies(
    plan: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    spec, contract = plan
    assert main(["lock", str(spec), str(contract)]) == 0
    lock = spec.with_name(spec.name + ".lock.json")
    assert lock.is_file() and "locked" in capsys.readouterr().out
    status = verify_lock(lock, spec)
    assert status.verified and not status.deviations
    assert "verified" in status.as_markdown()


def test_outcomes_do_not_enter_the_lock(plan: tuple[Path, Path]) -> None:
    spec, contract = plan
    lock = write_lock(spec, contract)
    csv = spec.parents[1] / "data" / "sample" / "sib_reoffending.csv"
    frame = pd.read_csv(csv)
    frame["reconvictions"] = frame["reconvictions"] + 1  # outcomes arrive / change
    frame.to_csv(csv, index=False)
    assert verify_lock(lock, spec).verified


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("ratio = 10", "ratio = 5", "changed option `ratio`"),
        (
            '"sentence_months", "offence_type"]',
            '"sentence_months", "offence_type", "cohort"]',
            "added covariate 'cohort'",
        ),
        ('estimator = "nearest_neighbor"', 'estimator = "ipw"', "different estimator"),
    ],
)
def test_each_deviation_is_listed(
    plan: tuple[Path, Path], old: str, new: str, expected: str
) -> None:
    spec, contract = plan
    lock = write_lock(spec, contract)
    text = spec.read_text(encoding="utf-8")
    assert old in text
    spec.write_text(text.replace(old, new, 1), encoding="utf-8")
    status = verify_lock(lock, spec)
    assert not status.verified
    assert any(expected in d for d in status.deviations), status.deviations
    assert expected in status.as_markdown()


def test_changed_contract_and_covariate_data_are_deviations(plan: tuple[Path, Path]) -> None:
    spec, contract = plan
    lock = write_lock(spec, contract)
    contract.write_text(
        contract.read_text(encoding="utf-8").replace("threshold = 0.075", "threshold = 0.05")
    )
    csv = spec.parents[1] / "data" / "sample" / "sib_reoffending.csv"
    frame = pd.read_csv(csv)
    frame.loc[0, "age"] = frame.loc[0, "age"] + 1
    frame.to_csv(csv, index=False)
    devs = verify_lock(lock, spec).deviations
    assert any("contract differs" in d for d in devs)
    assert any("pre-outcome data" in d for d in devs)


def test_plan_status_line_for_page_one(plan: tuple[Path, Path]) -> None:
    """The page-one line: not locked, verified, then each deviation named."""
    spec, contract = plan
    assert plan_status(spec).startswith("not locked")
    write_lock(spec, contract)
    assert plan_status(spec).startswith("verified against the plan locked")
    spec.write_text(spec.read_text().replace("ratio = 10", "ratio = 5"))
    line = plan_status(spec)
    assert line.startswith("1 deviation(s)") and "changed option `ratio`" in line


def test_shipped_demo_plan_is_locked_and_verifies() -> None:
    """examples/peterborough.toml ships with its lock; a stale lock would fail here."""
    assert plan_status(ROOT / "examples" / "peterborough.toml").startswith("verified")
