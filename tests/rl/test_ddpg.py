"""DDPG: TD3 with one critic, an actor (and target) step on every critic step, and no target
policy smoothing (rl_lab.rl.configs.DDPGConfig; the agent is rl_lab.rl.td3.TD3)."""

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rl_lab import app
from rl_lab.agents import AGENTS
from rl_lab.rl.buffers import ReplayBatch
from rl_lab.rl.envs import env_spaces
from rl_lab.rl.task import build_agent, validate_config
from rl_lab.rl.td3 import TD3

OBS = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
ACTIONS = gym.spaces.Box(np.array([-1.0, 0.0], np.float32), np.array([3.0, 0.5], np.float32))
SMALL = {"type": "mlp", "hidden_sizes": [16]}
DDPG = {"n_critics": 1, "policy_delay": 1, "target_policy_noise": 0.0, "target_noise_clip": 0.0}

TINY = [
    "agent=ddpg", "env=Pendulum-v1", "total_steps=600", "agent.learning_starts=200",
    "agent.batch_size=32", "agent.buffer_size=2000", "agent.network.actor.hidden_sizes=[16,16]",
    "agent.network.critic.hidden_sizes=[16,16]", "eval.freq=200", "eval.episodes=2",
    "eval.final_episodes=2", "checkpointing.freq=200", "logging.log_freq=100", "progress=false",
]  # fmt: skip


# Tiny networks: a second thread only adds contention on a busy CPU.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_agent() -> TD3:
    torch.manual_seed(0)
    network = {"actor": SMALL, "critic": SMALL, "init": "default"}
    return TD3(OBS, ACTIONS, total_steps=1000, network=network, learning_rate=1e-2, **DDPG)


def batch(n: int = 8, seed: int = 0) -> ReplayBatch:
    rng = np.random.default_rng(seed)
    return ReplayBatch(
        rng.uniform(-1, 1, (n, 3)).astype(np.float32),
        rng.uniform(ACTIONS.low, ACTIONS.high, (n, 2)).astype(np.float32),
        rng.normal(size=n).astype(np.float32),
        rng.uniform(-1, 1, (n, 3)).astype(np.float32),
        np.array([0.0, 1.0] * (n // 2), np.float32),
    )


def params(net: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def test_agent_ddpg_is_td3_with_its_three_additions_off(compose_cfg):
    cfg = compose_cfg("agent=ddpg", "env=Pendulum-v1")
    validate_config(cfg)
    assert AGENTS["ddpg"].rl_lab == AGENTS["td3"].rl_lab  # one off-policy agent, one code path
    assert {key: cfg.agent[key] for key in DDPG} == DDPG
    # SB3's DDPG defaults, which are its TD3's; the RL Zoo preset on top
    assert cfg.tuned_preset == "ddpg/Pendulum-v1" and cfg.total_steps == 20_000
    assert (cfg.agent.learning_rate, cfg.agent.tau, cfg.agent.batch_size) == (1e-3, 0.005, 256)
    assert (cfg.agent.gamma, cfg.agent.buffer_size, cfg.agent.learning_starts) == (
        0.98, 200_000, 10_000,
    )  # fmt: skip
    assert cfg.agent.action_noise_std == 0.1
    assert list(cfg.agent.network.actor.hidden_sizes) == [400, 300]
    plain = compose_cfg("agent=ddpg", "env=rl_lab/NoPresetHere-v0")  # no preset: the defaults
    assert (plain.agent.learning_starts, plain.agent.gamma, plain.agent.buffer_size) == (
        100, 0.99, 1_000_000,
    )  # fmt: skip
    agent = build_agent(cfg, *env_spaces(cfg.env), "cpu")
    assert [name for name, _ in agent.critic.named_children()] == ["q1"]


def test_one_critic_and_an_actor_step_on_every_update():
    agent = make_agent()
    assert len(agent.critic.q_functions) == 1 and not hasattr(agent.critic, "q2")
    for i in range(4):
        actor, actor_target, critic_target = (
            params(agent.actor), params(agent.actor_target), params(agent.critic_target)
        )  # fmt: skip
        metrics = agent.update(batch(seed=i), i)
        assert "losses/actor_loss" in metrics  # from the first update on
        for before, net in ((actor, agent.actor), (actor_target, agent.actor_target)):
            assert not all(torch.equal(a, b) for a, b in zip(before, params(net), strict=True))
        assert not all(
            torch.equal(a, b)
            for a, b in zip(critic_target, params(agent.critic_target), strict=True)
        )
    assert agent.updates == 4


def test_the_td_target_is_the_target_critic_at_the_target_action_without_noise():
    agent = make_agent()
    b = batch(16)
    obs, next_obs = torch.as_tensor(b.obs), torch.as_tensor(b.next_obs)
    with torch.no_grad():
        next_q = agent.critic_target.q1(next_obs, agent.actor_target(next_obs))
        target = torch.as_tensor(b.rewards) + 0.99 * (1 - torch.as_tensor(b.terminated)) * next_q
        actions = agent.scaling.to_scaled(torch.as_tensor(b.actions))
        expected = F.mse_loss(agent.critic.q1(obs, actions), target)
    rng_state = torch.get_rng_state()
    metrics = agent.update(b, 0)
    torch.testing.assert_close(metrics["losses/critic_loss"], expected)
    assert torch.equal(torch.get_rng_state(), rng_state)  # no target noise was drawn


def test_a_ddpg_run_writes_results_and_its_checkpoint_plays_the_same(compose_cfg, tmp_path):
    overrides = ["total_steps=400"]
    results = app.run(compose_cfg(*TINY, *overrides), tmp_path, overrides)
    assert (results["agent"], results["env_steps"], results["gradient_steps"]) == ("ddpg", 400, 200)
    assert json.loads((tmp_path / "results.json").read_text())["status"] == "completed"
    last = tmp_path / "checkpoints" / "last.pt"
    evaluated = app.run(
        compose_cfg("mode=eval", f"checkpoint={last}", "episodes=2"), tmp_path / "e", []
    )
    assert evaluated["eval"]["returns"] == results["eval"]["returns"]
    resume = ["resume=true", "total_steps=600"]
    resumed = app.run(compose_cfg(*TINY, *resume), tmp_path, resume)
    assert resumed["env_steps"] == 600 and resumed["gradient_steps"] == 400


def test_ddpg_learns_pendulum_in_a_few_thousand_steps(compose_cfg, tmp_path):
    overrides = [
        "total_steps=4000", "agent.learning_starts=1000", "agent.batch_size=128",
        "agent.buffer_size=10000", "agent.learning_rate=2e-3", "agent.tau=0.02",
        "agent.network.actor.hidden_sizes=[64,64]", "agent.network.critic.hidden_sizes=[64,64]",
        "eval.freq=0", "eval.final_episodes=10", "checkpointing.freq=0",
    ]  # fmt: skip
    trained = app.run(compose_cfg(*TINY, *overrides), tmp_path, overrides)["eval"]["mean_return"]
    assert trained > -400, trained  # a uniformly random policy scores about -1200 here
