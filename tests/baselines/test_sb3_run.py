import json

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rl_lab import app
from tests.conftest import TINY


def test_sb3_run_follows_the_run_directory_contract(compose_cfg, tmp_path):
    overrides = ["agent=sb3_dqn", *TINY, "total_steps=800"]
    results = app.run(compose_cfg(*overrides), tmp_path / "run", overrides)
    assert results["agent"] == "sb3_dqn" and results["status"] == "completed"
    assert results["env_steps"] >= 800 and results["eval"]["episodes"] == 3
    assert [h["env_steps"] for h in results["eval_history"]][:2] == [400, 800]
    run = tmp_path / "run"
    assert {p.name for p in (run / "checkpoints").iterdir()} >= {"last.pt", "best.pt"}
    events = EventAccumulator(str(run / "tb")).Reload()
    tags = set(events.Tags()["scalars"])
    assert {"eval/mean_return", "charts/episodic_return", "charts/epsilon"} <= tags
    assert "train/loss" in tags  # SB3's own logger writes into the same folder

    # mode=eval loads the SB3 policy weights from last.pt and scores it identically
    cfg = compose_cfg("mode=eval", f"checkpoint={run / 'checkpoints' / 'last.pt'}", "episodes=3")
    evaluated = app.run(cfg, tmp_path / "eval", [])
    assert evaluated["eval"]["returns"] == results["eval"]["returns"]

    # resume continues the SB3 model from its own zip and replay buffer
    resume = ["resume=true", "total_steps=1600"]
    resumed = app.run(compose_cfg(*overrides, *resume), run, resume)
    assert resumed["env_steps"] >= 1600
    assert json.loads((run / "results.json").read_text())["env_steps"] == resumed["env_steps"]


def test_sb3_td3_runs_on_a_continuous_env(compose_cfg, tmp_path):
    overrides = [
        "agent=sb3_td3", "env=Pendulum-v1", "total_steps=400", "agent.learning_starts=200",
        "agent.network.actor.hidden_sizes=[16]", "agent.network.critic.hidden_sizes=[16]",
        "eval.freq=200", "eval.episodes=2", "eval.final_episodes=2", "progress=false",
    ]  # fmt: skip
    results = app.run(compose_cfg(*overrides), tmp_path, overrides)
    assert results["agent"] == "sb3_td3" and results["env_steps"] == 400
    assert "action_noise_std" in results["sb3_notes"]
    assert results["eval"]["mean_return"] < 0  # Pendulum returns are negative
