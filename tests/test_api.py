"""The Python API: the same runs as the command line, trained models to load and use."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import rl_lab
from rl_lab import app
from rl_lab.errors import ConfigError, RunDirError
from tests.conftest import TINY, run_cli
from tests.gan.conftest import TINY_GAN
from tests.supervised.conftest import FAST


@pytest.fixture(scope="module")
def dqn_run(tmp_path_factory):
    return rl_lab.train(*TINY, "seed=3", run_dir=tmp_path_factory.mktemp("api") / "dqn")


def test_train_returns_the_run_and_writes_the_run_directory(dqn_run):
    assert dqn_run.results["status"] == "completed" and dqn_run.results["seed"] == 3
    assert dqn_run.results == json.loads((dqn_run.dir / "results.json").read_text())
    assert dqn_run.config.agent.name == "dqn" and dqn_run.config.seed == 3
    assert dqn_run.best_checkpoint.is_file() and dqn_run.last_checkpoint.is_file()
    assert "Final greedy evaluation" in (dqn_run.dir / "run.log").read_text()
    assert (dqn_run.dir / ".hydra" / "overrides.yaml").is_file()  # summarize finds it


def test_a_notebook_and_a_shell_give_identical_runs(dqn_run, tmp_path):
    again = rl_lab.train(TINY, ["seed=3"], run_dir=tmp_path / "again")  # lists work too
    assert again.results["eval"]["returns"] == dqn_run.results["eval"]["returns"]
    shell = run_cli(*TINY, "seed=3", f"hydra.run.dir={tmp_path / 'shell'}")
    assert shell.returncode == 0, shell.stderr
    from_shell = json.loads((tmp_path / "shell" / "results.json").read_text())
    assert from_shell["eval"]["returns"] == dqn_run.results["eval"]["returns"]
    assert from_shell["eval_history"] == dqn_run.results["eval_history"]


def test_errors_raise_and_nothing_exits(dqn_run, tmp_path):
    with pytest.raises(ConfigError, match="did you mean `agent.learning_rate`"):
        rl_lab.train(*TINY, "agent.learnin_rate=1e-3", run_dir=tmp_path / "a")
    with pytest.raises(ConfigError, match="Unknown config key"):
        rl_lab.train(*TINY, "+agent.learnin_rate=1e-3", run_dir=tmp_path / "b")
    with pytest.raises(RunDirError, match="already holds a run"):
        rl_lab.train(*TINY, "seed=3", run_dir=dqn_run.dir)


def test_train_keeps_the_callers_torch_threads(tmp_path):
    torch.set_num_threads(2)
    try:
        rl_lab.train(*TINY, "total_steps=400", "torch_threads=1", run_dir=tmp_path / "run")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)


def test_a_loaded_agent_predicts_and_evaluates_as_mode_eval(dqn_run, compose_cfg, tmp_path):
    agent = rl_lab.load(dqn_run.best_checkpoint)
    assert isinstance(agent, rl_lab.Agent) and not agent.recurrent
    obs, _ = __import__("gymnasium").make("CartPole-v1").reset(seed=0)
    action, state = agent.predict(obs, deterministic=True)
    assert state is None and np.ndim(action) == 0 and int(action) in (0, 1)
    batch, _ = agent.predict(np.stack([obs, obs]))
    assert batch.shape == (2,) and batch[0] == action
    scored = rl_lab.evaluate(agent, episodes=3)
    overrides = ["mode=eval", f"checkpoint={dqn_run.best_checkpoint}", "episodes=3"]
    cli_eval = app.run(compose_cfg(*overrides), tmp_path / "eval", overrides)
    assert scored["returns"] == cli_eval["eval"]["returns"]


def test_a_recurrent_agent_carries_its_state_in_and_out(tmp_path):
    overrides = [
        "agent=ppo_lstm", "env=CartPoleNoVel-v1", "env.num_envs=2", "agent.n_steps=32",
        "agent.batch_size=32", "agent.n_epochs=1", "agent.network.lstm.hidden_size=8",
        "total_steps=64", "eval.freq=0", "eval.final_episodes=2", "progress=false",
    ]  # fmt: skip
    run = rl_lab.train(*overrides, run_dir=tmp_path / "lstm")
    agent = rl_lab.load(run.last_checkpoint)
    assert agent.recurrent
    env = __import__("gymnasium").make("CartPoleNoVel-v1")
    obs, _ = env.reset(seed=0)
    step_by_step, state = [], None
    play = agent.policy.predict_fn(1)  # what evaluation uses: the state kept inside
    for _ in range(5):
        action, state = agent.predict(obs, state=state)
        step_by_step.append(int(action))
        assert int(play(obs[None])[0]) == int(action)
        obs, *_ = env.step(int(action))
    assert state is not None
    # episode_start resets the state: the same as starting from None
    fresh, _ = agent.predict(obs, state=None)
    reset, _ = agent.predict(obs[None], state=state, episode_start=np.array([True]))
    assert int(reset[0]) == int(fresh)
    sampled, _ = agent.predict(obs, state=None, deterministic=False)
    assert int(sampled) in (0, 1)


def test_a_classifier_predicts_as_mode_eval_scores(compose_cfg, tmp_path):
    from rl_lab.data import load_dataset

    digits = load_dataset({"name": "digits"})
    run = rl_lab.train(*FAST, run_dir=tmp_path / "clf")
    model = rl_lab.load(run.best_checkpoint)
    assert isinstance(model, rl_lab.Classifier)
    labels = model.predict(digits.test.images)
    accuracy = float((torch.as_tensor(labels) == digits.test.labels).float().mean())
    scored = rl_lab.train("mode=eval", f"checkpoint={run.best_checkpoint}", run_dir=tmp_path / "e")
    assert scored.results["task"] == "supervised"  # the checkpoint supplies its task
    scored = scored.results
    assert accuracy == pytest.approx(scored["test"]["accuracy"])
    assert model.predict_proba(digits.test.images[0]).shape == (1, 10)


def test_a_gan_samples_as_mode_sample_writes(compose_cfg, tmp_path):
    run = rl_lab.train(*TINY_GAN, "model=cgan", "trainer.epochs=1", run_dir=tmp_path / "gan")
    gan = rl_lab.load(run.last_checkpoint)
    assert isinstance(gan, rl_lab.GanGenerator)
    images = gan.sample(8, labels=3, seed=5)
    assert images.shape == (8, *gan.image_shape) and 0 <= images.min() <= images.max() <= 1
    overrides = ["task=gan", "mode=sample", f"checkpoint={run.last_checkpoint}", "n=8", "label=3"]
    app.run(compose_cfg(*overrides, "seed=5"), tmp_path / "s", overrides)
    written = np.load(tmp_path / "s" / "samples.npz")["images"]
    np.testing.assert_array_equal(images[:, 0], written)  # the same noise, labels and weights
    with pytest.raises(ValueError, match="labels must be in"):
        gan.sample(2, labels=10)


def test_summarize_returns_a_table_of_the_runs(dqn_run):
    table = rl_lab.summarize(dqn_run.dir.parent)
    assert [row["runs"] for row in table] == [1]
    assert table[0]["mean_return"] == pytest.approx(dqn_run.results["eval"]["mean_return"])
    assert table._repr_markdown_().splitlines()[0].startswith("| config | runs")


def test_sampling_is_refused_where_there_is_no_policy_to_sample(dqn_run):
    agent = rl_lab.load(dqn_run.best_checkpoint)
    with pytest.raises(ValueError, match="use deterministic=True"):
        agent.predict(np.zeros(4, dtype=np.float32), deterministic=False)
