"""The CSV and Markdown tables of a sweep (rl_lab.reports.tables)."""

import csv
from pathlib import Path

import pytest

from rl_lab.reports.summary import summarize
from tests.reports.conftest import DQN, PPO


def test_writes_csv_markdown_and_png(sweep: Path, tmp_path: Path):
    out = tmp_path / "report"
    summarize(sweep, out_dir=out)
    with (out / "summary.csv").open(newline="") as handle:
        rows = {row["label"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {DQN, PPO}
    ppo = rows[PPO]
    assert (ppo["n_completed"], ppo["n_total"], ppo["n_failed"]) == ("3", "4", "0")
    assert float(ppo["mean_return"]) == pytest.approx(150.0)
    assert float(ppo["iqm"]) == pytest.approx(150.0)
    assert float(ppo["success_rate"]) == 0.0
    assert float(ppo["threshold"]) == 475.0
    assert float(ppo["ci_low"]) < 150.0 < float(ppo["ci_high"])
    assert ppo["seeds"] == "0 1 2"

    markdown = (out / "summary.md").read_text()
    assert f"| {DQN} | 3/4 |" in markdown
    assert "## Failed runs" in markdown
    assert "RuntimeError: replay buffer exploded" in markdown
    assert "more traceback lines" not in markdown  # first line of the error only
    assert (out / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (sweep / "summary.csv").exists()
