"""An Optuna sweep's trials, ranked and written (rl_lab.reports.trials)."""

import csv
from pathlib import Path

from rl_lab.reports.summary import build_report


def test_optuna_trials_sorted_by_objective_with_the_best_marked(optuna_sweep: Path):
    report = build_report(optuna_sweep)
    assert report.search is not None and report.search.direction == "maximize"
    with (optuna_sweep / "trials.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["trial"] for r in rows] == ["1", "3", "0", "2", "4", "5"]
    assert [r["state"] for r in rows] == ["completed"] * 4 + ["failed", "incomplete"]
    assert [r["best"] for r in rows] == ["yes", "", "", "", "", ""]  # the earlier of the tie
    assert rows[0]["params"] == "agent.learning_rate=0.002"
    assert float(rows[0]["objective"]) == 500.0 and rows[4]["objective"] == ""
    markdown = (optuna_sweep / "trials.md").read_text()
    assert "| 1 | 1 ★ | completed | 500.00 | agent.learning_rate=0.002 |" in markdown
    assert "5/6 trials finished" in markdown


def test_plain_sweep_has_no_trials_table(sweep: Path):
    report = build_report(sweep)
    assert report.search is None and not (sweep / "trials.csv").exists()
