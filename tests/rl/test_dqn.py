import gymnasium as gym
import numpy as np
import pytest
import torch

from rl_lab.errors import ConfigError
from rl_lab.rl.buffers import ReplayBatch
from rl_lab.rl.dqn import DQN

OBS = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
ACTIONS = gym.spaces.Discrete(2)
NET = {"encoder": {"type": "mlp", "hidden_sizes": [16]}, "head": "q"}


def make_agent(**kwargs) -> DQN:
    torch.manual_seed(0)
    defaults = {"total_steps": 1000, "network": NET, "learning_rate": 1e-2}
    return DQN(OBS, ACTIONS, **{**defaults, **kwargs})


def batch(n: int = 8, terminated: float = 0.0) -> ReplayBatch:
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    return ReplayBatch(
        obs,
        rng.integers(0, 2, n),
        np.ones(n, np.float32),
        rng.uniform(-1, 1, (n, 3)).astype(np.float32),
        np.full(n, terminated, np.float32),
    )


def params(net: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def test_epsilon_decays_linearly_over_the_exploration_fraction():
    agent = make_agent(exploration_fraction=0.5, exploration_final_eps=0.1)
    assert agent.epsilon(0) == 1.0
    assert agent.epsilon(250) == pytest.approx(0.55)
    assert agent.epsilon(500) == pytest.approx(0.1) and agent.epsilon(900) == pytest.approx(0.1)


def test_act_is_greedy_at_zero_epsilon_and_random_at_one():
    rng = np.random.default_rng(0)
    greedy = make_agent(exploration_initial_eps=0.0, exploration_final_eps=0.0)
    obs = batch(64).obs
    np.testing.assert_array_equal(greedy.act(obs, 0, rng), greedy.predict(obs))
    random_agent = make_agent(exploration_initial_eps=1.0, exploration_final_eps=1.0)
    actions = random_agent.act(np.repeat(obs[:1], 500, axis=0), 0, rng)
    assert 0.4 < actions.mean() < 0.6  # both actions, about equally often


def test_hard_target_update_happens_every_interval():
    agent = make_agent(target_update_interval=10, tau=1.0)
    before = params(agent.target_net)
    agent.update(batch(), env_step=1)
    agent.on_env_step(9)
    assert all(torch.equal(a, b) for a, b in zip(before, params(agent.target_net), strict=True))
    agent.on_env_step(10)
    for target, online in zip(agent.target_net.parameters(), agent.q_net.parameters(), strict=True):
        assert torch.equal(target, online)


def test_polyak_target_update():
    agent = make_agent(target_update_interval=1, tau=0.25)
    old_target = params(agent.target_net)
    agent.update(batch(), env_step=1)
    online = params(agent.q_net)
    agent.on_env_step(1)
    for new, old, o in zip(agent.target_net.parameters(), old_target, online, strict=True):
        torch.testing.assert_close(new.detach(), 0.75 * old + 0.25 * o)


def test_updates_reduce_the_td_loss_on_a_fixed_batch():
    agent = make_agent(target_update_interval=10**9)
    fixed = batch(32, terminated=1.0)  # targets are the rewards: a plain regression
    first = agent.update(fixed, 0)["losses/td_loss"].item()
    for _ in range(200):
        last = agent.update(fixed, 0)["losses/td_loss"].item()
    assert last < 0.05 * first
    q = agent.q_net(torch.as_tensor(fixed.obs)).gather(1, torch.as_tensor(fixed.actions)[:, None])
    torch.testing.assert_close(q.squeeze(1), torch.ones(32), atol=0.1, rtol=0)


def constant_q_td_targets(agent: DQN, monkeypatch) -> dict:
    """Make every Q-value 2.0 (action 0) or 4.0 (action 1) and record the TD targets of updates."""
    with torch.no_grad():
        for net in (agent.q_net, agent.target_net):
            net.head.q.weight.zero_()
            net.head.q.bias.copy_(torch.tensor([2.0, 4.0]))
    seen = {}

    def capture(q, td_target):
        seen["target"] = td_target
        return torch.nn.functional.mse_loss(q, td_target)

    monkeypatch.setattr(agent, "loss_fn", capture)
    return seen


@pytest.mark.parametrize("double_q", [False, True])
def test_td_target_bootstraps_unless_terminated(double_q, monkeypatch):
    agent = make_agent(gamma=0.5, double_q=double_q)
    seen = constant_q_td_targets(agent, monkeypatch)
    agent.update(batch(4, terminated=0.0), 0)
    torch.testing.assert_close(seen["target"], torch.full((4,), 1.0 + 0.5 * 4.0))
    agent.update(batch(4, terminated=1.0), 0)
    torch.testing.assert_close(seen["target"], torch.ones(4))


def test_linear_learning_rate_schedule():
    agent = make_agent(lr_schedule="linear", learning_rate=1e-2)
    agent.update(batch(), env_step=250)
    assert agent.optimizer.param_groups[0]["lr"] == pytest.approx(0.75e-2)


def test_state_dict_round_trip_restores_predictions_and_counters():
    agent = make_agent(target_update_interval=5)
    for step in range(1, 8):
        agent.update(batch(), step)
        agent.on_env_step(step)
    other = make_agent(target_update_interval=5)
    other.load_state_dict(agent.state_dict())
    obs = torch.as_tensor(batch(16).obs)
    torch.testing.assert_close(other.q_net(obs), agent.q_net(obs))
    torch.testing.assert_close(other.target_net(obs), agent.target_net(obs))
    assert other.updates == 7 and other._next_target_update == agent._next_target_update


def test_continuous_actions_are_rejected_with_a_clear_message():
    with pytest.raises(ConfigError, match="discrete action space"):
        DQN(OBS, gym.spaces.Box(-1, 1, (1,)), total_steps=10, network=NET)


def test_bad_network_spec_is_a_config_error():
    bad = {"encoder": {"type": "transformer"}, "head": "q"}
    with pytest.raises(ConfigError, match="agent.network is invalid.*transformer"):
        DQN(OBS, ACTIONS, total_steps=10, network=bad)


def test_n_step_batches_use_their_own_discounts(monkeypatch):
    agent = make_agent(gamma=0.5)
    seen = constant_q_td_targets(agent, monkeypatch)  # max Q is 4.0
    b = batch(2)
    agent.update(b._replace(discounts=np.array([0.25, 0.125], np.float32)), 0)
    torch.testing.assert_close(seen["target"], torch.tensor([1.0 + 0.25 * 4, 1.0 + 0.125 * 4]))


def test_exponential_epsilon_decays_per_training_phase_down_to_its_floor():
    agent = make_agent(
        exploration_schedule="exponential", exploration_decay=0.5, gradient_steps=2,
        exploration_final_eps=0.1,
    )  # fmt: skip
    assert agent.epsilon(0) == 1.0
    agent.update(batch(), env_step=1)
    assert agent.epsilon(1) == 1.0  # half a phase: no decay yet
    agent.update(batch(), env_step=1)
    assert agent.epsilon(1) == 0.5 and agent.epsilon(999) == 0.5  # phases, not env steps
    for _ in range(8):
        agent.update(batch(), env_step=2)
    assert agent.epsilon(2) == 0.1


def test_without_a_target_network_the_td_target_comes_from_the_trained_network():
    agent = make_agent(target_network=False, target_update_interval=1)
    with torch.no_grad():
        for p in agent.target_net.parameters():
            p.add_(100.0)  # a target network that would give absurd targets if it were read
    shifted = params(agent.target_net)
    first = agent.update(batch(), env_step=1)
    agent.on_env_step(1)  # and it is never synced either
    assert all(torch.equal(a, b) for a, b in zip(shifted, params(agent.target_net), strict=True))
    reference = make_agent(target_update_interval=1)  # the same seed and weights
    online = reference.q_net.parameters()
    with torch.no_grad():
        for t, o in zip(reference.target_net.parameters(), online, strict=True):
            t.copy_(o)
    second = reference.update(batch(), env_step=1)
    assert torch.equal(first["losses/td_loss"], second["losses/td_loss"])
