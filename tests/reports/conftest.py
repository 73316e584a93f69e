"""Hand-written run directories: a plain multirun and an Optuna sweep, as rl_lab writes them."""

import json
from pathlib import Path

import pytest

DQN = "agent=dqn env=CartPole-v1"
PPO = "agent=ppo env=CartPole-v1"
DQN_RETURNS = {0: 500.0, 1: 480.0, 2: 300.0}
PPO_RETURNS = {0: 100.0, 1: 200.0, 2: 150.0}


def write_overrides(run_dir: Path, overrides: list[str]) -> None:
    """Write Hydra's .hydra/overrides.yaml for a job directory."""
    (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))


def write_run(
    root: Path,
    name: str,
    agent: str,
    seed: int,
    final_return: float = 0.0,
    status: str = "completed",
    overrides: list[str] | None = None,
    **extra: object,
) -> Path:
    """Write a results.json like the one the training entry point produces."""
    run_dir = root / name
    if overrides is None:
        overrides = [f"agent={agent}", "env=CartPole-v1", f"seed={seed}", "hydra.job.chdir=true"]
    write_overrides(run_dir, overrides)
    results = {
        "status": status,
        "task": "rl",
        "agent": agent,
        "env": "CartPole-v1",
        "seed": seed,
        "env_steps": 2000,
        "wall_time_s": 10.0 + seed,
        "sps": 200.0 - seed,
        "reward_threshold": 475.0,
        "eval": {"mean_return": final_return, "std_return": 0.0, "episodes": 5, "returns": []},
        # Seeds evaluate at different steps; seed 2 stops at 1800.
        "eval_history": [
            {"env_steps": 0, "mean_return": 10.0, "std_return": 0.0},
            {"env_steps": 1000 + 250 * seed, "mean_return": final_return / 2, "std_return": 0.0},
            {"env_steps": 2000 - 100 * seed, "mean_return": final_return, "std_return": 0.0},
        ],
        "overrides": overrides,
        "config": {"agent": {"name": agent}},
    }
    results.update(extra)
    (run_dir / "results.json").write_text(json.dumps(results))
    # The resolved config the app writes; each agent has a key the other lacks.
    own_key = "exploration_fraction: 0.1" if agent == "dqn" else "n_epochs: 10"
    (run_dir / "config.yaml").write_text(
        f"seed: {seed}\nagent:\n  name: {agent}\n  learning_rate: 0.001\n  {own_key}\n"
        "  hidden_sizes: [64, 64]\n"
    )
    return run_dir


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """A multirun: 2 agents x 3 seeds, a failed DQN seed 3, a PPO seed 3 still in progress."""
    root = tmp_path / "multirun"
    job = 0
    for agent, returns in (("dqn", DQN_RETURNS), ("ppo", PPO_RETURNS)):
        for seed, final in returns.items():
            write_run(root, str(job), agent, seed, final)
            job += 1
    error = "RuntimeError: replay buffer exploded\n  more traceback lines"
    write_run(root, str(job), "dqn", 3, status="failed", error=error, eval=None)
    write_overrides(root / str(job + 1), ["agent=ppo", "env=CartPole-v1", "seed=3"])
    (root / "multirun.yaml").write_text("hydra: {}\n")
    return root


def write_trial(
    root: Path,
    number: int,
    lr: str,
    objective: float | None,
    status: str = "completed",
    **extra: object,
) -> Path:
    """A job of an Optuna sweep: its results.json and Hydra's record of the sweeper."""
    overrides = [f"agent.learning_rate={lr}", "experiment=dqn_cartpole_search", "total_steps=500"]
    run_dir = write_run(
        root,
        f"{number}_dqn_CartPole-v1_s0",
        "dqn",
        0,
        objective if objective is not None else 0.0,
        status=status,
        overrides=overrides,
        objective=objective,
        **extra,
    )
    (run_dir / ".hydra" / "hydra.yaml").write_text(
        "hydra:\n"
        "  sweeper:\n"
        "    _target_: hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper\n"
        "    direction: maximize\n"
        "    n_trials: 6\n"
        "    params:\n"
        "      agent.learning_rate: tag(log, interval(1e-4, 1e-2))\n"
        f"  job:\n    num: {number}\n"
    )
    return run_dir


@pytest.fixture
def optuna_sweep(tmp_path: Path) -> Path:
    """Six trials: two tie for the best value, one failed, one still running."""
    root = tmp_path / "search"
    for number, lr, objective in ((0, "0.001", 200.0), (1, "0.002", 500.0), (3, "0.004", 500.0)):
        write_trial(root, number, lr, objective)
    write_trial(root, 2, "0.003", 120.0)
    write_trial(root, 4, "0.5", None, status="failed", error="ConfigError: bad lr")
    (root / "5_dqn_CartPole-v1_s0").mkdir()
    (root / "5_dqn_CartPole-v1_s0" / "run_info.json").write_text(
        json.dumps({"seed": 0, "overrides": ["agent.learning_rate=0.006"]})
    )
    return root
