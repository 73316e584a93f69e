"""gSDE (generalized State-Dependent Exploration): when the exploration matrices are drawn, how
the actor-critic agents and SAC act and learn with them, checkpoints, export and the SB3 side."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from rl_lab import checkpoint
from rl_lab.errors import ConfigError
from rl_lab.nets import StateDependentNoiseHead
from rl_lab.rl.actor_critic import A2C, PPO
from rl_lab.rl.envs import env_spaces
from rl_lab.rl.gsde import ExplorationMatrices
from rl_lab.rl.sac import SAC
from rl_lab.rl.task import build_agent, validate_config
from tests.rl.continuous import ACTIONS, OBS, batch, make, params, resumed_twice, same, tiny
from tests.rl.continuous import NET as NET_SAC

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NET = {"encoder": {"type": "mlp", "hidden_sizes": [16], "activation": "tanh"}}
ENVS = 4


def draws_of(matrices: ExplorationMatrices, steps: int) -> list[int]:
    """At which of ``steps`` acts new matrices were drawn (numbered draws)."""
    counter = iter(range(1000))
    drawn = []
    for step in range(steps):
        before = matrices.head.eps
        matrices.before_act(2, lambda shape: torch.full(shape, float(next(counter))))
        if matrices.head.eps is not before:
            drawn.append(step)
    return drawn


@pytest.mark.parametrize(("sample_freq", "expected"), [(-1, [0]), (0, [0]), (3, [0, 3, 6])])
def test_matrices_are_drawn_at_each_phase_start_and_every_sample_freq_steps(sample_freq, expected):
    matrices = ExplorationMatrices(StateDependentNoiseHead(4, 1), sample_freq)
    assert draws_of(matrices, 8) == expected
    matrices.end_phase()  # a training phase: the next act draws, and the count restarts
    assert draws_of(matrices, 4) == (expected[:2] if sample_freq == 3 else [0])
    state = matrices.state_dict()
    other = ExplorationMatrices(StateDependentNoiseHead(4, 1), sample_freq)
    other.load_state_dict(state)
    assert torch.equal(other.head.eps, matrices.head.eps)
    assert (other.steps, other.phase_start) == (matrices.steps, matrices.phase_start)


def make_on_policy(cls=PPO, network=NET, **kwargs):
    torch.manual_seed(0)
    return cls(OBS, ACTIONS, total_steps=1000, network=network, use_sde=True, **kwargs)


@pytest.mark.parametrize("cls", [PPO, A2C])
def test_the_noise_is_a_function_of_the_state_between_draws(cls):
    """Unlike a Gaussian's, gSDE's noise repeats for a repeated state until the next draw."""
    agent = make_on_policy(cls, sde_sample_freq=2)
    obs = np.random.default_rng(0).uniform(-1, 1, (ENVS, 3)).astype(np.float32)
    starts = np.zeros(ENVS, bool)
    first, second, third = (agent.act(obs, None, starts).actions for _ in range(3))
    np.testing.assert_array_equal(first, second)  # one draw serves two steps
    assert not np.allclose(second, third)  # the third step drew new matrices
    assert not np.allclose(first[0], first[1])  # each env has its own matrix
    # the stored log-probability is the state-dependent Gaussian's
    dist, _, _ = agent.policy(torch.as_tensor(obs))
    step = agent.act(obs, None, starts)
    torch.testing.assert_close(
        torch.as_tensor(step.log_probs), dist.log_prob(torch.as_tensor(step.actions))
    )


def test_an_update_ends_the_rollout_so_the_next_act_draws_again():
    from tests.rl.test_actor_critic import rollout_for

    agent = make_on_policy(PPO, batch_size=32, n_epochs=1)
    obs = np.zeros((ENVS, 3), np.float32)
    before = agent.act(obs, None, np.zeros(ENVS, bool)).actions
    log_std = agent.policy.action_head.log_std.detach().clone()
    agent.update(rollout_for(agent), env_step=32)
    assert not torch.equal(agent.policy.action_head.log_std, log_std)  # the noise scale learns
    after = agent.act(obs, None, np.zeros(ENVS, bool)).actions
    assert not np.allclose(before, after)
    restored = make_on_policy(PPO, batch_size=32, n_epochs=1)
    restored.load_state_dict(agent.state_dict())
    assert torch.equal(restored.policy.action_head.eps, agent.policy.action_head.eps)


@pytest.mark.parametrize("cls", [PPO, A2C])
def test_use_sde_with_discrete_actions_is_refused(cls):
    with pytest.raises(ConfigError, match=r"agent.use_sde=true \(gSDE\) explores continuous"):
        cls(OBS, gym.spaces.Discrete(3), total_steps=100, network=NET, use_sde=True)


def test_squashed_gsde_actions_are_scaled_into_the_bounds_and_scored_as_they_were_sampled():
    agent = make_on_policy(PPO, batch_size=32, n_epochs=1, network={**NET, "squash_output": True})
    assert agent.policy.action_head.squash
    obs = np.random.default_rng(0).uniform(-1, 1, (ENVS, 3)).astype(np.float32)
    starts = np.zeros(ENVS, bool)
    step = agent.act(obs, None, starts)
    assert (np.abs(step.actions) < 1).all()  # the rollout stores the squashed actions
    scaled = ACTIONS.low + 0.5 * (step.actions + 1) * (ACTIONS.high - ACTIONS.low)
    np.testing.assert_allclose(step.env_actions, scaled, rtol=1e-6)
    assert ACTIONS.contains(step.env_actions[0].astype(np.float32))
    # the update scores the stored actions as act did (a ratio of 1 before any step); the
    # squashed Gaussian's entropy is estimated by -log pi of those actions
    log_probs, entropy, _ = agent.policy.evaluate_actions(
        torch.as_tensor(obs), torch.as_tensor(step.actions)
    )
    np.testing.assert_allclose(log_probs.detach().numpy(), step.log_probs, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(entropy, -log_probs)
    # greedy play: tanh of the mean, scaled to the bounds
    head = agent.policy.action_head
    mean = head.mean(agent.policy._features(0, torch.as_tensor(obs), None, None)[0])
    greedy = ACTIONS.low + 0.5 * (torch.tanh(mean).detach().numpy() + 1) * (
        ACTIONS.high - ACTIONS.low
    )
    np.testing.assert_allclose(agent.predict(obs), greedy, rtol=1e-5)


@pytest.mark.parametrize("agent", ["ppo", "a2c", "reinforce"])
def test_squash_output_without_gsde_is_refused_before_any_work(compose_cfg, agent):
    cfg = compose_cfg(
        f"agent={agent}", "env=Pendulum-v1", "agent.use_sde=false",
        "agent.network.squash_output=true",
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"squash_output=true .* needs agent.use_sde=true"):
        validate_config(cfg)
    with pytest.raises(ConfigError, match="needs agent.use_sde=true"):
        PPO(OBS, ACTIONS, total_steps=100, network={**NET, "squash_output": True})


def make_sac(**kwargs) -> SAC:
    return make(SAC, use_sde=True, **kwargs)


def test_sac_acts_with_matrices_from_the_loops_generator_and_learns_their_scale():
    agent = make_sac(network={**NET_SAC, "log_std_init": -1.0})
    head = agent.actor.head
    assert isinstance(head, StateDependentNoiseHead) and (head.log_std == -1.0).all()
    obs = np.random.default_rng(0).uniform(-1, 1, (3, 3)).astype(np.float32)
    actions = agent.act(obs, 0, np.random.default_rng(1))
    assert actions.shape == (3, 2)
    assert (actions >= ACTIONS.low).all() and (actions <= ACTIONS.high).all()
    np.testing.assert_array_equal(actions, agent.act(obs, 1, np.random.default_rng(2)))  # same draw
    again = make_sac(network={**NET_SAC, "log_std_init": -1.0})
    np.testing.assert_array_equal(actions, again.act(obs, 0, np.random.default_rng(1)))
    # greedy play is tanh of the clipped mean, without noise
    features = agent.actor.trunk(torch.as_tensor(obs))
    greedy = torch.tanh(head.mean(features).clamp(-2, 2)).detach().numpy()
    centre, half = (ACTIONS.high + ACTIONS.low) / 2, (ACTIONS.high - ACTIONS.low) / 2
    np.testing.assert_allclose(agent.predict(obs), centre + half * greedy, rtol=1e-5)
    log_std, trunk = head.log_std.detach().clone(), params(agent.actor.trunk)
    agent.update(batch(), env_step=10)
    assert not torch.equal(head.log_std, log_std) and not same(params(agent.actor.trunk), trunk)
    # the update ended the collection phase: the next act draws new matrices
    assert not np.allclose(actions, agent.act(obs, 11, np.random.default_rng(2)))
    restored = make_sac()
    restored.load_state_dict(agent.state_dict())
    assert torch.equal(restored.actor.head.eps, head.eps)
    assert restored.sde is not None and restored.sde.steps == agent.sde.steps


def test_a_gsde_sac_run_resumes_exactly_and_exports_its_greedy_policy(compose_cfg, tmp_path):
    import rl_lab
    from rl_lab.exporting import check_export, export

    base = [*tiny("sac"), "agent.use_sde=true", "agent.sde_sample_freq=8"]
    resumed, again, run, copy = resumed_twice(compose_cfg, base, tmp_path, 400, 600)
    assert resumed["eval"] == again["eval"]
    states = [checkpoint.load(d / "checkpoints" / "last.pt")["agent"] for d in (run, copy)]
    assert torch.equal(states[0]["sde"]["eps"], states[1]["sde"]["eps"])
    agent = rl_lab.load(run / "checkpoints" / "last.pt")
    check = check_export(agent, export(agent, tmp_path / "p.pt", "torchscript"), "torchscript")
    assert check["max_abs_diff"] < 1e-5


@pytest.mark.parametrize("squash", [False, True])
def test_a_gsde_ppo_run_exports_its_greedy_policy(tmp_path, squash):
    import rl_lab
    from rl_lab.exporting import check_export, export

    overrides = [
        "agent=ppo", "env=Pendulum-v1", "agent.use_sde=true", "total_steps=256",
        "env.num_envs=2", "agent.n_steps=64", "agent.batch_size=64", "agent.n_epochs=1",
        "eval.freq=0", "eval.final_episodes=2", "checkpointing.freq=0", "progress=false",
        f"agent.network.squash_output={str(squash).lower()}",
    ]  # fmt: skip
    agent = rl_lab.load(rl_lab.train(*overrides, run_dir=tmp_path / "run").last_checkpoint)
    head = agent.policy.policy.action_head
    assert isinstance(head, StateDependentNoiseHead) and head.squash == squash
    check = check_export(agent, export(agent, tmp_path / "p.pt", "torchscript"), "torchscript")
    assert check["max_abs_diff"] < 1e-5


@pytest.mark.parametrize(("agent", "env"), [("ppo", "Pendulum-v1"), ("a2c", "Pendulum-v1")])
def test_sb3_runs_the_same_gsde_settings(compose_cfg, agent, env):
    cfg = compose_cfg(f"agent={agent}", f"env={env}", "impl=sb3", "agent.sde_sample_freq=5")
    validate_config(cfg)
    model = build_agent(cfg, *env_spaces(cfg.env), "cpu").model
    assert model.use_sde and model.sde_sample_freq == 5  # both presets use gSDE, as the Zoo's
    assert model.policy.use_sde and not model.policy.squash_output


def test_sb3_squashes_gsde_actions_when_asked(compose_cfg):
    cfg = compose_cfg(
        "agent=ppo", "env=MountainCarContinuous-v0", "impl=sb3", "agent.network.squash_output=true"
    )
    validate_config(cfg)
    model = build_agent(cfg, *env_spaces(cfg.env), "cpu").model
    assert model.policy.use_sde and model.policy.squash_output


def test_sb3_sac_gets_the_gsde_log_std_init(compose_cfg):
    cfg = compose_cfg("agent=sac", "env=MountainCarContinuous-v0", "impl=sb3")
    validate_config(cfg)
    model = build_agent(cfg, *env_spaces(cfg.env), "cpu").model
    assert model.use_sde and model.sde_sample_freq == -1
    assert model.actor.log_std.detach().eq(-3.67).all()
    assert isinstance(model.actor.mu, nn.Sequential)  # SB3 clips the mean, as rl_lab does
