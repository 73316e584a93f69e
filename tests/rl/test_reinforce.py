import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rl_lab import app, checkpoint
from rl_lab.errors import ConfigError
from rl_lab.rl.envs import env_spaces
from rl_lab.rl.on_policy import EpisodeLoop
from rl_lab.rl.reinforce import REINFORCE
from rl_lab.rl.rollout import EpisodeBuffer, discounted_returns
from rl_lab.rl.task import build_agent, validate_config
from rl_lab.tracking import Tracker

OBS = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
NET = {"encoder": {"type": "mlp", "hidden_sizes": [16]}}

#: A REINFORCE run on CartPole that finishes in a few seconds (command-line values beat the
#: preset).
TINY = [
    "agent=reinforce", "env=CartPole-v1", "env.num_envs=2", "total_steps=600",
    "agent.network.encoder.hidden_sizes=[16]", "eval.freq=200", "eval.episodes=2",
    "eval.final_episodes=2", "checkpointing.freq=200", "logging.log_freq=100", "progress=false",
]  # fmt: skip


# Tiny networks: a second thread only adds contention on a busy CPU.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_returns_of_a_hand_made_episode():
    # env 0: one episode of 3 steps, then one of 2; env 1: one episode of 5 steps
    rewards = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [4.0, 0.0], [5.0, 10.0]])
    dones = np.array([[0, 0], [0, 0], [1, 0], [0, 0], [1, 1]], dtype=bool)
    returns = discounted_returns(rewards, dones, gamma=0.5)
    np.testing.assert_allclose(returns[:, 0], [1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3, 4 + 2.5, 5])
    np.testing.assert_allclose(returns[:, 1], [0.625, 1.25, 2.5, 5, 10])
    assert returns.dtype == np.float32
    np.testing.assert_allclose(discounted_returns(rewards, dones, 1.0)[0], [6, 10])


def test_the_episode_buffer_keeps_whole_episodes_and_subtracts_the_baseline():
    buffer = EpisodeBuffer(n_envs=2)
    # env 1 ends after one step and then waits (its later steps are not kept)
    steps = [
        ([1.0, 3.0], [0, 1], [1, 1]),
        ([1.0, 9.0], [0, 0], [1, 0]),
        ([1.0, 9.0], [1, 0], [1, 0]),
    ]
    for t, (rewards, dones, kept) in enumerate(steps):
        buffer.add(
            obs=np.full((2, 3), t, np.float64),
            actions=np.array([t, 10 + t]),
            rewards=np.array(rewards),
            dones=np.array(dones, dtype=bool),
            values=np.array([0.5, 0.25], np.float32),
            log_probs=np.zeros(2, np.float32),
            kept=np.array(kept, dtype=bool),
        )
    buffer.compute_returns(gamma=1.0)
    assert buffer.n_transitions == 4
    np.testing.assert_array_equal(buffer.actions, [0, 10, 1, 2])  # time-major, kept steps only
    np.testing.assert_allclose(buffer.returns, [3, 3, 2, 1])
    np.testing.assert_allclose(buffer.advantages, [2.5, 2.75, 1.5, 0.5])
    assert buffer.obs.dtype == np.float32
    (whole,) = buffer.minibatches(None)
    torch.testing.assert_close(whole.returns, torch.tensor([3.0, 3.0, 2.0, 1.0]))
    # an unfinished episode cannot be learned from
    buffer.reset()
    buffer.add(np.zeros((2, 3)), np.zeros(2), np.ones(2), np.array([True, False]),
               np.zeros(2), np.zeros(2), np.ones(2, dtype=bool))  # fmt: skip
    with pytest.raises(RuntimeError, match="unfinished episode"):
        buffer.compute_returns(gamma=0.9)


def _episode(agent: REINFORCE, returns: list[float]) -> EpisodeBuffer:
    """A rollout of one episode whose returns (gamma 1) are ``returns``, from the agent."""
    rng = np.random.default_rng(0)
    buffer = EpisodeBuffer(n_envs=1)
    rewards = -np.diff([*returns, 0.0])
    for t, reward in enumerate(rewards):
        obs = rng.uniform(-1, 1, (1, 3)).astype(np.float32)
        step = agent.act(obs, None, np.array([t == 0]))
        done = np.array([t == len(rewards) - 1])
        buffer.add(obs, step.actions, np.array([reward]), done, step.values, step.log_probs,
                   np.ones(1, dtype=bool))  # fmt: skip
    buffer.compute_returns(gamma=1.0)
    return buffer


@pytest.mark.parametrize("space", [gym.spaces.Discrete(3), gym.spaces.Box(-2.0, 2.0, (2,))])
def test_the_update_is_the_monte_carlo_policy_gradient(space):
    torch.manual_seed(0)
    agent = REINFORCE(OBS, space, total_steps=100, network=NET, normalize_returns=False)
    value_head = [p.detach().clone() for p in agent.policy.value_head.parameters()]
    buffer = _episode(agent, [6.0, 5.0, 3.0, 1.0])
    np.testing.assert_array_equal(buffer.values, 0.0)  # no baseline: V = 0
    np.testing.assert_allclose(buffer.advantages, [6, 5, 3, 1])
    (batch,) = buffer.minibatches(None)
    with torch.no_grad():
        log_probs, _, _ = agent.policy.evaluate_actions(batch.obs, batch.actions)
    metrics = agent.update(buffer, 0)
    expected = -(torch.tensor([6.0, 5.0, 3.0, 1.0]) * log_probs).mean()
    torch.testing.assert_close(metrics["losses/policy_loss"], expected)
    assert "losses/value_loss" not in metrics and agent.updates == 1
    # the (unused) value head does not learn without a baseline
    for before, after in zip(value_head, agent.policy.value_head.parameters(), strict=True):
        assert torch.equal(before, after)


def test_the_baseline_is_learned_and_normalisation_standardises_the_weights():
    torch.manual_seed(0)
    agent = REINFORCE(
        OBS, gym.spaces.Discrete(2), total_steps=100, network=NET, baseline=True, learning_rate=1e-2
    )
    buffer = _episode(agent, [4.0, 3.0, 2.0, 1.0])
    assert (buffer.values != 0).all()  # V(s) from the critic
    np.testing.assert_allclose(buffer.advantages, buffer.returns - buffer.values)
    value_before = agent.value(buffer.obs).copy()
    for _ in range(50):
        metrics = agent.update(buffer, 0)
    assert "losses/value_loss" in metrics
    error_before = np.abs(value_before - buffer.returns).mean()
    assert np.abs(agent.value(buffer.obs) - buffer.returns).mean() < 0.5 * error_before
    # normalised weights: the loss is that of the standardised advantages
    (batch,) = buffer.minibatches(None)
    with torch.no_grad():
        log_probs, _, _ = agent.policy.evaluate_actions(batch.obs, batch.actions)
        weights = (batch.advantages - batch.advantages.mean()) / (batch.advantages.std() + 1e-8)
    metrics = agent.update(buffer, 0)
    torch.testing.assert_close(metrics["losses/policy_loss"], -(weights * log_probs).mean())


def test_rollouts_are_whole_episodes_of_every_env(compose_cfg, tmp_path):
    cfg = compose_cfg(*TINY, "agent.n_episodes=2", "agent.gamma=1.0")
    agent = build_agent(cfg, *env_spaces(cfg.env), "cpu")
    loop = EpisodeLoop(agent, cfg, tmp_path, Tracker(tmp_path / "tb"))
    loop.next_rollout()
    loop.close()
    # reward 1 per step and gamma 1: each return counts the steps left, down to 1 at the end
    returns = loop.buffer.returns
    assert (returns == 1.0).sum() == 2 * 2 and returns[-1] == 1.0
    assert loop.state.episodes >= 4 and loop.state.vector_steps * 2 == loop.state.env_steps
    # the env that finished first kept stepping: counted, not learned from
    assert loop.buffer.n_transitions <= loop.state.env_steps


def test_a_run_resumed_from_its_checkpoint_equals_the_uninterrupted_run(compose_cfg, tmp_path):
    """Every rollout starts from resets seeded by the step count, so resuming at a rollout
    boundary continues exactly as the uninterrupted run does (a constant learning rate: a
    linear one would decay towards another total_steps in the interrupted part)."""
    tiny = [*TINY, "agent.lr_schedule=constant"]
    whole = app.run(compose_cfg(*tiny, "total_steps=1200"), tmp_path / "a", ["total_steps=1200"])
    app.run(compose_cfg(*tiny), tmp_path / "b", [])
    resume = ["resume=true", "total_steps=1200"]
    resumed = app.run(compose_cfg(*tiny, *resume), tmp_path / "b", resume)
    assert resumed["env_steps"] == whole["env_steps"] >= 1200
    assert resumed["gradient_steps"] == whole["gradient_steps"]
    assert resumed["eval"]["returns"] == whole["eval"]["returns"]
    a, b = (checkpoint.load(tmp_path / d / "checkpoints" / "last.pt")["agent"] for d in "ab")
    assert all(torch.equal(a["policy"][k], b["policy"][k]) for k in a["policy"])
    assert all(torch.equal(a["optimizer"][k], b["optimizer"][k]) for k in ("exp_avg", "step"))


def test_a_run_on_box_actions_writes_results_and_evaluates_the_same(compose_cfg, tmp_path):
    overrides = ["env=Pendulum-v1", "total_steps=800", "agent.baseline=true"]
    results = app.run(compose_cfg(*TINY, *overrides), tmp_path, overrides)
    assert results["agent"] == "reinforce" and results["env"] == "Pendulum-v1"
    assert results["env_steps"] == 800 and results["gradient_steps"] == 2  # 200-step episodes
    assert json.loads((tmp_path / "results.json").read_text())["status"] == "completed"
    tags = set(EventAccumulator(str(tmp_path / "tb")).Reload().Tags()["scalars"])
    assert {"losses/policy_loss", "losses/value_loss", "charts/action_std"} <= tags
    last = tmp_path / "checkpoints" / "last.pt"
    cfg = compose_cfg("mode=eval", f"checkpoint={last}", "episodes=2")
    assert app.run(cfg, tmp_path / "e", [])["eval"]["returns"] == results["eval"]["returns"]


def test_configs_reinforce_cannot_run_are_refused(compose_cfg):
    with pytest.raises(ConfigError, match="no recurrent policy"):
        validate_config(compose_cfg("agent=reinforce", "agent.recurrent=true"))
    with pytest.raises(ConfigError, match="Blackjack-v1 has no time limit.*max_episode_steps"):
        validate_config(compose_cfg("agent=reinforce", "env=Blackjack-v1"))
    validate_config(compose_cfg("agent=reinforce", "env=Blackjack-v1", "env.max_episode_steps=50"))
    with pytest.raises(ConfigError, match="agent.n_episodes=0"):
        validate_config(compose_cfg("agent=reinforce", "agent.n_episodes=0"))


def test_the_cartpole_preset_composes(compose_cfg):
    cfg = compose_cfg("agent=reinforce", "env=CartPole-v1")
    validate_config(cfg)
    assert cfg.tuned_preset == "reinforce/CartPole-v1" and cfg.env.num_envs == 4
    assert cfg.agent.baseline and cfg.agent.lr_schedule == "linear"


def test_reinforce_learns_cartpole(compose_cfg, tmp_path):
    """The preset's settings on 40% of its budget (about 4 s): far above a random policy (~20;
    measured 249 / 263 / 271 on seeds 0 / 1 / 2)."""
    overrides = ["total_steps=40000", "eval.freq=0", "eval.final_episodes=10"]
    cfg = compose_cfg("agent=reinforce", "env=CartPole-v1", "progress=false", *overrides)
    results = app.run(cfg, tmp_path, overrides)
    assert results["eval"]["mean_return"] > 150, results["eval"]
