"""Learning-curve plots (rl_lab.reports.plots)."""

from pathlib import Path

from rl_lab.reports.summary import summarize


def test_one_learning_curve_plot_per_group(sweep: Path):
    groups = summarize(sweep)
    plots = sorted((sweep / "curves").glob("*.png"))
    assert [p.name for p in plots] == [
        "00_agent=dqn_env=CartPole-v1.png",
        "01_agent=ppo_env=CartPole-v1.png",
    ]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in plots)
    assert len(groups[0].histories) == 3  # the completed seeds' curves are drawn
