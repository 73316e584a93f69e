import gymnasium as gym
import numpy as np
import pytest
import torch

from rl_lab.errors import ConfigError
from rl_lab.nets.flat import FlatAdam, FlatRMSprop
from rl_lab.rl.actor_critic import A2C, PPO
from rl_lab.rl.rollout import RolloutBuffer
from rl_lab.rl.task import validate_config

OBS = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
DISCRETE = gym.spaces.Discrete(3)
BOX = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
NET = {"encoder": {"type": "mlp", "hidden_sizes": [16], "activation": "tanh"}}
RNET = {**NET, "lstm": {"hidden_size": 8, "num_layers": 1}}


def make(cls=PPO, action_space=DISCRETE, **kwargs):
    torch.manual_seed(0)
    return cls(OBS, action_space, total_steps=1000, network=kwargs.pop("network", NET), **kwargs)


def rollout_for(agent, n_steps=8, n_envs=4, seed=0) -> RolloutBuffer:
    """A rollout of random observations acted on by ``agent``, with random rewards."""
    rng = np.random.default_rng(seed)
    space = agent.policy.action_head
    discrete = not hasattr(space, "log_std")
    buffer = RolloutBuffer(
        n_steps, n_envs, (3,), np.float32, () if discrete else (2,),
        np.int64 if discrete else np.float32,
    )  # fmt: skip
    state = agent.initial_state(n_envs)
    buffer.reset(state)
    starts = np.ones(n_envs, bool)
    for _ in range(n_steps):
        obs = rng.uniform(-1, 1, (n_envs, 3)).astype(np.float32)
        step = agent.act(obs, state, starts)
        done = rng.random(n_envs) < 0.2
        buffer.add(
            obs, step.actions, rng.normal(size=n_envs), starts, done, np.zeros(n_envs, bool),
            step.values, step.log_probs, np.zeros(n_envs),
        )  # fmt: skip
        state, starts = step.state, done
    buffer.compute_returns_and_advantages(np.zeros(n_envs), 0.99, 0.95)
    return buffer


def test_continuous_actions_are_clipped_for_the_env_but_stored_unclipped():
    agent = make(action_space=BOX, network={**NET, "log_std_init": 1.0})  # std e: often outside
    obs = np.zeros((256, 3), np.float32)
    step = agent.act(obs, None, np.zeros(256, bool))
    assert (np.abs(step.actions) > 1).any()
    np.testing.assert_array_equal(step.env_actions, np.clip(step.actions, -1, 1))
    with torch.no_grad():
        dist, _, _ = agent.policy(torch.as_tensor(obs))
        expected = dist.log_prob(torch.as_tensor(step.actions)).numpy()
    np.testing.assert_allclose(step.log_probs, expected, rtol=1e-5)  # of the unclipped action
    greedy = agent.predict(obs[:2])
    np.testing.assert_allclose(greedy, np.clip(dist.mean[:2].numpy(), -1, 1))


def test_first_ppo_minibatch_starts_at_ratio_one():
    agent = make(n_epochs=1, batch_size=32)
    metrics = agent.update(rollout_for(agent), env_step=0)
    assert metrics["losses/approx_kl"].item() == pytest.approx(0.0, abs=1e-7)
    assert metrics["losses/clipfrac"].item() == 0.0
    assert agent.updates == 1
    assert np.isfinite(metrics["losses/explained_variance"].item())


def test_ppo_epochs_and_minibatches_and_target_kl_early_stop():
    agent = make(n_epochs=5, batch_size=8, learning_rate=1e-3)
    agent.update(rollout_for(agent), 0)
    assert agent.updates == 5 * 4  # 32 transitions / 8 per minibatch, 5 epochs
    agent = make(n_epochs=50, batch_size=8, learning_rate=3e-2, target_kl=1e-4)
    agent.update(rollout_for(agent), 0)
    assert 1 <= agent.updates < 50 * 4  # stopped early once the policy moved too far


def test_clipped_surrogate_has_no_gradient_beyond_the_clip():
    agent = make()
    old = torch.zeros(4)
    log_probs = torch.tensor([0.5, -0.5, 0.05, 0.5], requires_grad=True)  # ratios e^x
    advantages = torch.tensor([1.0, -1.0, 1.0, -1.0])
    loss, diag = agent.policy_loss(advantages, log_probs, old, clip=0.2)
    loss.backward()
    # ratio 1.65 with A>0 and 0.61 with A<0 are clipped (no gradient); the others are not
    assert log_probs.grad[0] == 0 and log_probs.grad[1] == 0
    assert log_probs.grad[2] != 0 and log_probs.grad[3] != 0
    assert diag["losses/clipfrac"].item() == pytest.approx(0.75)
    a2c_loss, _ = agent.policy_loss(advantages, log_probs, old, clip=None)
    assert a2c_loss.item() == pytest.approx(-(advantages * log_probs).mean().item())


def test_value_clipping_limits_the_prediction_change():
    returns, old = torch.tensor([5.0, 5.0]), torch.tensor([0.0, 4.9])
    values = torch.tensor([3.0, 5.2])
    assert make().value_loss(values, old, returns).item() == pytest.approx((4 + 0.04) / 2)
    clipped = make(clip_range_vf=0.5).value_loss(values, old, returns)
    assert clipped.item() == pytest.approx((4.5**2 + 0.04) / 2)  # 3.0 -> 0.5; 5.2 -> 5.2


def test_linear_schedules():
    agent = make(learning_rate=1e-3, lr_schedule="linear", clip_range_schedule="linear")
    agent.update(rollout_for(agent), env_step=250)
    charts = agent.charts(250)
    assert charts["charts/learning_rate"] == pytest.approx(0.75e-3)
    assert charts["charts/clip_range"] == pytest.approx(0.15)
    assert agent.current_clip_range(2000) == 0.0  # past the budget: clamped at zero


def test_a2c_is_one_full_batch_step_with_rmsprop():
    agent = make(A2C, action_space=BOX)
    assert isinstance(agent.optimizer, FlatRMSprop)
    assert agent.optimizer.eps == 1e-5 and agent.optimizer.alpha == 0.99
    metrics = agent.update(rollout_for(agent), 0)
    assert agent.updates == 1 and "losses/approx_kl" not in metrics
    assert "charts/action_std" in agent.charts(0) and "charts/clip_range" not in agent.charts(0)
    assert isinstance(make(A2C, use_rms_prop=False).optimizer, FlatAdam)


@pytest.mark.parametrize("cls", [PPO, A2C])
def test_recurrent_update_replays_the_rollout_exactly(cls):
    agent = make(cls, network=RNET, recurrent=True, **({"n_epochs": 1} if cls is PPO else {}))
    if cls is PPO:
        agent.batch_size = 16  # 2 envs of 8 steps per minibatch
    rollout = rollout_for(agent)
    metrics = agent.update(rollout, 0)
    if cls is PPO:  # first minibatch at ratio 1 needs the stored start state and resets
        assert agent.updates == 2 and metrics["losses/approx_kl"].item() < 1e-3


def test_predict_fn_carries_the_recurrent_state_per_episode():
    agent = make(network=RNET, recurrent=True)
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, (20, 5, 3)).astype(np.float32)
    policy = agent.predict_fn(5)
    state, stateful, stateless = agent.initial_state(5), [], []
    for t in range(20):
        stateful.append(policy(obs[t]))
        actions, state = agent.predict_step(obs[t], state)
        np.testing.assert_array_equal(stateful[-1], actions)
        stateless.append(agent.predict(obs[t]))
    assert not np.array_equal(np.stack(stateful), np.stack(stateless))  # memory matters
    np.testing.assert_array_equal(agent.predict_fn(5)(obs[0]), stateful[0])  # a fresh start
    feed_forward = make()
    assert feed_forward.predict_fn(5) == feed_forward.predict  # plain predict


def test_gaussian_policy_learns_a_continuous_bandit():
    """Reward -(a - target)^2 with target = obs[:2]: the mean must move to the target."""
    agent = make(action_space=BOX, learning_rate=1e-2, batch_size=64, n_epochs=4)
    rng = np.random.default_rng(0)
    obs = np.zeros((128, 3), np.float32)

    def error() -> float:
        return float(np.mean((agent.predict(obs) - obs[:, :2]) ** 2))

    first = None
    for _ in range(20):
        obs = rng.uniform(-0.8, 0.8, (128, 3)).astype(np.float32)
        first = first if first is not None else error()
        buffer = RolloutBuffer(1, 128, (3,), np.float32, (2,), np.float32)
        buffer.reset()
        step = agent.act(obs, None, np.ones(128, bool))
        rewards = -((step.env_actions - obs[:, :2]) ** 2).sum(1)
        ended = np.ones(128, bool)
        buffer.add(obs, step.actions, rewards, ended, ended, ~ended, step.values,
                   step.log_probs, np.zeros(128))  # fmt: skip
        buffer.compute_returns_and_advantages(np.zeros(128), 0.99, 0.95)
        agent.update(buffer, 0)
    assert error() < 0.2 * first


def test_state_dict_round_trip():
    agent = make(network=RNET, recurrent=True, batch_size=8, n_epochs=2)
    agent.update(rollout_for(agent), 0)
    other = make(network=RNET, recurrent=True, batch_size=8, n_epochs=2)
    other.load_state_dict(agent.state_dict())
    obs = torch.randn(4, 3)
    torch.testing.assert_close(other.policy(obs)[1], agent.policy(obs)[1])
    assert other.updates == agent.updates
    assert other.optimizer.state_dict()["step"] == agent.updates


def test_config_cross_checks(compose_cfg):
    bad = [
        (["agent=ppo", "agent.batch_size=100"], "does not divide a rollout of 256"),
        (["agent=ppo", "agent.batch_size=512"], "larger than a rollout"),
        (["agent=ppo_lstm", "env.num_envs=4", "agent.batch_size=64"], "split env.num_envs=4"),
        (
            ["agent=a2c", "agent.normalize_advantage=true", "agent.n_steps=1", "env.num_envs=1"],
            "more than one",
        ),
        (["agent=ppo", "agent.clip_range=0"], "agent.clip_range=0"),
        (["agent=ppo", "agent.target_kl=-1"], "agent.target_kl"),
        (["agent=a2c", "agent.rms_prop_eps=0"], "agent.rms_prop_eps"),
        (["agent=ppo", "agent.network.lstm.hidden_size=0"], "hidden_size"),
    ]
    for overrides, message in bad:
        with pytest.raises(ConfigError, match=message):
            validate_config(compose_cfg(*overrides))
    for ok in (["agent=ppo_lstm", "env.num_envs=4", "agent.batch_size=256"], ["agent=a2c"]):
        validate_config(compose_cfg(*ok))


def test_unsupported_action_space_is_a_config_error():
    with pytest.raises(ConfigError, match="Discrete or 1-D Box"):
        make(action_space=gym.spaces.MultiBinary(3))


def test_ppo_lstm_is_recurrent_ppo_with_the_same_preset(compose_cfg):
    named = compose_cfg("agent=ppo_lstm", "env=CartPoleNoVel-v1")
    flagged = compose_cfg("agent=ppo", "agent.recurrent=true", "env=CartPoleNoVel-v1")
    assert named.agent.recurrent and named.tuned_preset == "ppo_lstm/CartPoleNoVel-v1"
    assert named.total_steps == 150_000 and named.env.num_envs == 8
    flagged.agent.name = "ppo_lstm"
    assert named.agent == flagged.agent
