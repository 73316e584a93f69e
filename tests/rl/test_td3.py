import io
import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rl_lab import app, checkpoint
from rl_lab.errors import ConfigError
from rl_lab.rl.envs import env_spaces
from rl_lab.rl.evaluation import Evaluator
from rl_lab.rl.task import validate_config
from rl_lab.rl.td3 import TD3
from tests.rl.continuous import ACTIONS, NET, OBS, batch, make, params, resumed_twice, same, tiny

TINY = tiny("td3")


# Tiny networks: a second thread only adds contention on a busy CPU.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_agent(**kwargs) -> TD3:
    return make(TD3, **kwargs)


def test_actions_stay_within_the_bounds_and_cover_them():
    agent = make_agent(action_noise_std=5.0)  # noise far larger than the range
    rng = np.random.default_rng(0)
    obs = rng.normal(0, 100, (500, 3)).astype(np.float32)  # saturates the tanh
    for actions in (agent.predict(obs), agent.act(obs, 0, rng), agent.random_actions(500, rng)):
        assert actions.shape == (500, 2) and actions.dtype == np.float32
        assert (actions >= ACTIONS.low).all() and (actions <= ACTIONS.high).all()
    uniform = agent.random_actions(2000, rng)
    np.testing.assert_allclose(uniform.min(0), ACTIONS.low, atol=0.02)
    np.testing.assert_allclose(uniform.max(0), ACTIONS.high, atol=0.02)
    np.testing.assert_allclose(uniform.mean(0), (ACTIONS.low + ACTIONS.high) / 2, atol=0.05)
    # the loop's generator drives all randomness of acting: same seed, same actions
    a = agent.act(obs[:5], 0, np.random.default_rng(1))
    np.testing.assert_array_equal(a, agent.act(obs[:5], 0, np.random.default_rng(1)))
    np.testing.assert_array_equal(
        agent.random_actions(5, np.random.default_rng(1)),
        agent.random_actions(5, np.random.default_rng(1)),
    )


def test_exploration_noise_is_gaussian_on_the_scaled_action():
    agent = make_agent(action_noise_std=0.1)
    obs = np.zeros((4000, 3), np.float32)
    greedy = agent.predict(obs[:1])[0]
    noisy = agent.act(obs, 0, np.random.default_rng(0))
    half_range = (ACTIONS.high - ACTIONS.low) / 2
    # std 0.1 on [-1, 1] is 0.1 * half the range in env units (bounds clip a little)
    np.testing.assert_allclose((noisy - greedy).std(0) / half_range, [0.1, 0.1], atol=0.015)
    assert not np.allclose(noisy, greedy)
    quiet = make_agent(action_noise_std=0.0)
    quiet_actions = quiet.act(obs[:3], 0, np.random.default_rng(0))
    np.testing.assert_array_equal(quiet_actions, quiet.predict(obs[:3]))


def test_ornstein_uhlenbeck_noise_drifts_per_env_and_restarts_at_episode_ends():
    """SB3's OrnsteinUhlenbeckActionNoise: x <- x - 0.15 x 0.01 + sigma 0.1 N(0, 1), from 0."""
    agent = make_agent(action_noise_std=0.5, action_noise_type="ornstein-uhlenbeck")
    obs = np.zeros((2, 3), np.float32)
    rng, reference = np.random.default_rng(0), np.random.default_rng(0)
    x = np.zeros((2, 2))
    for step in range(50):
        agent.act(obs, step, rng)
        x = x - 0.15 * x * 0.01 + 0.5 * 0.1 * reference.standard_normal((2, 2))
        np.testing.assert_allclose(agent.ou_noise.state, x)
    # consecutive noises are nearly equal (a drift), unlike independent draws
    before = agent.ou_noise.state.copy()
    agent.act(obs, 50, rng)
    assert np.abs(agent.ou_noise.state - before).max() < 0.3
    agent.on_env_step(51, np.array([True, False]))  # env 0's episode ended
    np.testing.assert_array_equal(agent.ou_noise.state[0], [0.0, 0.0])
    assert (agent.ou_noise.state[1] != 0).all()
    with pytest.raises(ConfigError, match="action_noise_type"):
        make_agent(action_noise_type="pink")


def test_a_run_with_ornstein_uhlenbeck_noise_resumes_exactly(compose_cfg, tmp_path):
    base = [*TINY, "agent.action_noise_type=ornstein-uhlenbeck", "agent.action_noise_std=0.5"]
    # stopped mid-episode (Pendulum's are 200 steps); a resumed run starts new episodes, and
    # new noise processes with them
    resumed, again, _, _ = resumed_twice(compose_cfg, base, tmp_path, 450, 650)
    assert resumed["env_steps"] == 650 and resumed["eval"] == again["eval"]


def test_critics_see_buffer_actions_scaled_to_unit_range():
    agent = make_agent()
    seen = []
    agent.critic.register_forward_pre_hook(lambda m, args: seen.append(args[1].clone()))
    env_actions = np.array([[-1.0, 0.0], [3.0, 0.5], [1.0, 0.25]], np.float32)  # low, high, mid
    b = batch(3)
    agent.update(b._replace(actions=env_actions), 0)
    torch.testing.assert_close(seen[0], torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]]))


def test_target_policy_smoothing_noise_is_clipped():
    agent = make_agent(target_policy_noise=10.0, target_noise_clip=0.3)
    seen = []
    agent.critic_target.register_forward_pre_hook(lambda m, args: seen.append(args[1].clone()))
    with torch.no_grad():  # the target actor outputs tanh(0) = 0 everywhere
        agent.actor_target.mu.weight.zero_()
        agent.actor_target.mu.bias.zero_()
    agent.update(batch(256), 0)
    noise = seen[-1]  # next action = 0 + clipped noise
    assert noise.abs().max() <= 0.3 + 1e-6
    assert (noise.abs() > 0.299).float().mean() > 0.9  # std 10: nearly all clipped
    assert (noise > 0).any() and (noise < 0).any()
    # and the noisy target action is kept in [-1, 1]
    agent = make_agent(target_policy_noise=10.0, target_noise_clip=0.5)
    agent.critic_target.register_forward_pre_hook(lambda m, args: seen.append(args[1].clone()))
    with torch.no_grad():
        agent.actor_target.mu.weight.zero_()
        agent.actor_target.mu.bias.fill_(3.0)  # tanh(3) = 0.995
    agent.update(batch(256), 0)
    assert seen[-1].max() == 1.0 and seen[-1].min() >= 0.495 - 1e-6


def test_actor_and_targets_move_only_every_policy_delay_updates():
    agent = make_agent(policy_delay=3)
    critic = params(agent.critic)
    actor, actor_target, critic_target = (
        params(agent.actor), params(agent.actor_target), params(agent.critic_target)
    )  # fmt: skip
    moved = []
    for i in range(1, 8):
        metrics = agent.update(batch(seed=i), i)
        assert not same(critic, params(agent.critic))  # the critics learn on every update
        critic = params(agent.critic)
        new_actor = params(agent.actor)
        moved.append(not same(actor, new_actor))
        # the targets move exactly when the actor does
        assert (not same(actor_target, params(agent.actor_target))) == moved[-1]
        assert (not same(critic_target, params(agent.critic_target))) == moved[-1]
        actor, actor_target, critic_target = (
            new_actor, params(agent.actor_target), params(agent.critic_target)
        )  # fmt: skip
        assert ("losses/actor_loss" in metrics) == (i >= 3)  # the last actor loss, once there
    assert moved == [False, False, True, False, False, True, False]
    assert agent.updates == 7


def test_polyak_target_update():
    agent = make_agent(policy_delay=1, tau=0.25)
    old_actor_target, old_critic_target = params(agent.actor_target), params(agent.critic_target)
    agent.update(batch(), 0)
    for net, target, old in (
        (agent.actor, agent.actor_target, old_actor_target),
        (agent.critic, agent.critic_target, old_critic_target),
    ):
        for new, o, online in zip(target.parameters(), old, net.parameters(), strict=True):
            torch.testing.assert_close(new.detach(), 0.75 * o + 0.25 * online.detach())
            assert not torch.equal(new, o)


def test_updates_reduce_the_critic_loss_on_a_fixed_batch():
    wide = {"type": "mlp", "hidden_sizes": [64, 64]}
    agent = make_agent(learning_rate=3e-3, network={**NET, "critic": wide})
    fixed = batch(32, terminated=1.0)  # targets are the rewards: a plain regression
    first = agent.update(fixed, 0)["losses/critic_loss"].item()
    for _ in range(300):
        metrics = agent.update(fixed, 0)
    assert metrics["losses/critic_loss"].item() < 0.05 * first
    actions = agent.scaling.to_scaled(torch.as_tensor(fixed.actions))
    q1, q2 = agent.critic(torch.as_tensor(fixed.obs), actions)
    target = torch.as_tensor(fixed.rewards)
    torch.testing.assert_close(q1, target, atol=0.2, rtol=0)
    torch.testing.assert_close(q2, target, atol=0.2, rtol=0)


def test_mixed_precision_steps_in_bfloat16_and_keeps_float32_weights_and_losses(monkeypatch):
    from rl_lab.rl import buffers

    monkeypatch.setattr(buffers, "native_bfloat16", lambda: True)  # any CPU: emulated if not
    wide = {"type": "mlp", "hidden_sizes": [64, 64]}
    exact = make_agent(network={**NET, "critic": wide}, policy_delay=1)
    mixed = make_agent(network={**NET, "critic": wide}, policy_delay=1, mixed_precision=True)
    mixed.actor.load_state_dict(exact.actor.state_dict())
    mixed.critic.load_state_dict(exact.critic.state_dict())
    fixed = batch(32)
    reference, metrics = exact.update(fixed, 0), mixed.update(fixed, 0)
    for tag in ("losses/critic_loss", "losses/q_values", "losses/actor_loss"):
        assert metrics[tag].dtype == torch.float32, tag
        # bfloat16 keeps about 3 significant digits
        torch.testing.assert_close(metrics[tag], reference[tag], rtol=0.05, atol=0.02)
    assert all(p.dtype == torch.float32 for p in mixed.critic.parameters())
    # and it learns: 300 steps on the fixed batch shrink the critic loss as float32 does
    first = mixed.update(fixed, 0)["losses/critic_loss"].item()
    for _ in range(300):
        last = mixed.update(fixed, 0)["losses/critic_loss"].item()
    assert last < 0.2 * first


def test_mixed_precision_is_refused_where_bfloat16_is_emulated(monkeypatch):
    from rl_lab.rl import buffers

    monkeypatch.setattr(buffers, "native_bfloat16", lambda: False)
    with pytest.raises(ConfigError, match="CPU with native bfloat16 .* which has neither"):
        make_agent(mixed_precision=True)


def test_state_dict_round_trip_restores_networks_optimizers_and_counters():
    agent = make_agent()
    for step in range(5):
        agent.update(batch(seed=step), step)
    other = make_agent()
    assert not same(params(other.critic), params(agent.critic))
    saved = io.BytesIO()  # through bytes, as a checkpoint goes (and weights_only loadable)
    torch.save(agent.state_dict(), saved)
    saved.seek(0)
    other.load_state_dict(torch.load(saved, weights_only=True))
    assert other.updates == 5
    torch.testing.assert_close(other._last_actor_loss, agent._last_actor_loss)
    obs = batch(16).obs
    np.testing.assert_array_equal(other.predict(obs), agent.predict(obs))
    for name in ("actor", "critic", "actor_target", "critic_target"):
        assert same(params(getattr(other, name)), params(getattr(agent, name))), name
    # identical next update (same target noise): optimizer moments and the delay phase restored
    for a in (agent, other):
        torch.manual_seed(7)
        a.update(batch(seed=9), 6)
    assert other.updates == agent.updates == 6
    for name in ("actor", "critic", "actor_target"):
        assert same(params(getattr(other, name)), params(getattr(agent, name))), name
    # loading copied in place: the layers are still views into the optimizer's flat tensor
    assert other.actor_flat.param.data_ptr() == other.actor.mu.weight.untyped_storage().data_ptr()


def test_discrete_and_unbounded_action_spaces_are_rejected():
    with pytest.raises(ConfigError, match="continuous.*agent=dqn"):
        TD3(OBS, gym.spaces.Discrete(3), total_steps=10, network=NET)
    with pytest.raises(ConfigError, match="finite action bounds"):
        TD3(OBS, gym.spaces.Box(-np.inf, np.inf, (1,)), total_steps=10, network=NET)
    with pytest.raises(ConfigError, match="agent.network.critic is invalid.*transformer"):
        TD3(OBS, ACTIONS, total_steps=10, network={**NET, "critic": {"type": "transformer"}})


def test_pendulum_preset_composes_and_config_is_checked(compose_cfg):
    cfg = compose_cfg("agent=td3", "env=Pendulum-v1")
    validate_config(cfg)
    assert cfg.tuned_preset == "td3/Pendulum-v1"
    assert cfg.total_steps == 30_000 and cfg.agent.learning_starts == 10_000
    assert cfg.agent.gamma == 0.98 and cfg.agent.policy_delay == 2
    assert list(cfg.agent.network.critic.hidden_sizes) == [400, 300]
    with pytest.raises(ConfigError, match="buffer_size=100 is smaller than agent.batch_size=256"):
        validate_config(compose_cfg("agent=td3", "env=Pendulum-v1", "agent.buffer_size=100"))
    with pytest.raises(ConfigError, match="agent.policy_delay=0"):
        validate_config(compose_cfg("agent=td3", "agent.policy_delay=0"))


def test_a_run_writes_results_and_resumes_on_a_continuous_env(compose_cfg, tmp_path):
    overrides = ["total_steps=400"]
    results = app.run(compose_cfg(*TINY, *overrides), tmp_path, overrides)
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    assert (results["agent"], results["env"], results["env_steps"]) == ("td3", "Pendulum-v1", 400)
    assert results["gradient_steps"] == 200 and results["eval"]["episodes"] == 2
    saved = checkpoint.load(tmp_path / "checkpoints" / "last.pt", kind="rl")
    actions = saved["buffer"]["actions"]
    assert actions.shape == (400, 1) and actions.dtype == torch.float32
    assert actions.abs().max() <= 2.0 and len(actions.unique()) > 300  # continuous, in bounds

    overrides = ["resume=true", "total_steps=600"]
    results = app.run(compose_cfg(*TINY, *overrides), tmp_path, overrides)
    assert results["env_steps"] == 600 and results["gradient_steps"] == 400
    assert [h["env_steps"] for h in results["eval_history"]] == [200, 400, 600]
    tags = set(EventAccumulator(str(tmp_path / "tb")).Reload().Tags()["scalars"])
    assert {
        "losses/critic_loss",
        "losses/actor_loss",
        "losses/q_values",
        "charts/learning_rate",
        "charts/action_noise_std",
        "charts/episodic_return",
        "eval/mean_return",
    } <= tags

    last = tmp_path / "checkpoints" / "last.pt"
    cfg = compose_cfg("mode=eval", f"checkpoint={last}", "episodes=2", "record_video=true")
    evaluated = app.run(cfg, tmp_path / "eval", [])
    assert evaluated["eval"]["returns"] == results["eval"]["returns"]
    assert (tmp_path / "eval" / "videos" / "eval_episode.gif").stat().st_size > 1000


def test_td3_learns_pendulum_in_a_few_thousand_steps(compose_cfg, tmp_path):
    overrides = [
        "total_steps=4000",
        "agent.learning_starts=1000",
        "agent.batch_size=128",
        "agent.buffer_size=10000",
        "agent.learning_rate=2e-3",
        "agent.tau=0.02",
        "agent.network.actor.hidden_sizes=[64,64]",
        "agent.network.critic.hidden_sizes=[64,64]",
        "eval.freq=0",
        "eval.final_episodes=10",
        "checkpointing.freq=0",
    ]
    cfg = compose_cfg(*TINY, *overrides)
    trained = app.run(cfg, tmp_path, overrides)["eval"]["mean_return"]
    # a uniformly random policy, scored on the same episode seeds
    _, space = env_spaces(cfg.env)
    rng = np.random.default_rng(0)
    evaluator = Evaluator(cfg.env, 10, cfg.eval.seed)
    random = evaluator.evaluate(lambda obs: rng.uniform(space.low, space.high, (len(obs), 1)))
    evaluator.close()
    assert random.mean_return < -900
    assert trained > -600 and trained > random.mean_return + 500, (trained, random.mean_return)
