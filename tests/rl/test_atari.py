"""Atari: the preprocessing stack, training vs evaluation envs, frame storage with real games,
and short DQN/PPO runs on Pong (both env backends)."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from rl_lab import app
from rl_lab.baselines.mapping import sb3_algo, sb3_kwargs
from rl_lab.errors import ConfigError
from rl_lab.hydra_env_source import GymEnvConfigSource
from rl_lab.nets import NatureCNN
from rl_lab.rl.atari import is_atari
from rl_lab.rl.envs import env_spaces, make_env, make_vec_env
from rl_lab.rl.evaluation import Evaluator
from rl_lab.rl.frame_buffer import FrameReplayBuffer
from rl_lab.rl.policies import ActorCriticPolicy
from rl_lab.rl.task import build_agent, validate_config

BACKENDS = ["gymnasium", "ale_vector"]


def play(envs, steps, seed=0, n_actions=4):
    """Random play; yields (obs, actions, rewards, terminated, truncated, infos) per step."""
    rng = np.random.default_rng(seed)
    obs, _ = envs.reset(seed=list(range(seed, seed + envs.num_envs)))
    for _ in range(steps):
        actions = rng.integers(0, n_actions, envs.num_envs)
        next_obs, rewards, terminated, truncated, infos = envs.step(actions)
        yield obs, actions, next_obs, rewards, terminated, truncated, infos
        obs = next_obs


def test_every_ale_id_gets_the_atari_env_config_and_the_agents_atari_preset(compose_cfg):
    for agent, preset, num_envs in [("dqn", "dqn/ALE/atari", 1), ("ppo", "ppo/ALE/atari", 8)]:
        cfg = compose_cfg(f"agent={agent}", "env=ALE/Breakout-v5")
        validate_config(cfg)  # no "tuned for another env" warning path, rules pass
        assert cfg.env.id == "ALE/Breakout-v5" and cfg.env.atari.frame_stack == 4
        assert cfg.tuned_preset == preset and cfg.env.num_envs == num_envs
        assert dict(cfg.agent.network.encoder)["type"] == "nature_cnn"
        assert "hidden_sizes" not in cfg.agent.network.encoder  # replaced, not merged
    zoo = compose_cfg("agent=dqn", "env=ALE/Pong-v5").agent
    assert (zoo.buffer_size, zoo.learning_starts, zoo.target_update_interval) == (
        100_000,
        100_000,
        1000,
    )
    assert (zoo.learning_rate, zoo.batch_size, zoo.exploration_final_eps) == (1e-4, 32, 0.01)
    ppo = compose_cfg("agent=ppo", "env=ALE/Pong-v5", "env.num_envs=4")
    assert ppo.env.num_envs == 4 and ppo.agent.network.shared  # command line wins
    assert (ppo.agent.n_steps, ppo.agent.n_epochs, ppo.agent.clip_range) == (128, 4, 0.1)
    a2c = compose_cfg("agent=a2c", "env=ALE/Pong-v5")
    assert (a2c.env.num_envs, a2c.agent.vf_coef, a2c.agent.ent_coef) == (16, 0.25, 0.01)
    assert compose_cfg("agent=td3", "env=ALE/Pong-v5").tuned_preset is None  # no Atari preset
    assert compose_cfg("env=CartPole-v1").tuned_preset == "dqn/CartPole-v1"
    assert is_atari("ALE/Pong-v5") and not is_atari("CartPole-v1")


@pytest.mark.parametrize("name", ["dqn", "ppo", "a2c"])
def test_atari_presets_map_one_to_one_to_sb3(compose_cfg, name):
    algo = sb3_algo(name)
    ours = compose_cfg(f"agent={name}", "env=ALE/Pong-v5")
    theirs = compose_cfg(f"agent={name}", "impl=sb3", "env=ALE/Pong-v5")
    assert theirs.tuned_preset == ours.tuned_preset == f"{name}/ALE/atari"
    assert {k: v for k, v in theirs.agent.items() if k != "name"} == {
        k: v for k, v in ours.agent.items() if k != "name"
    }
    kwargs = sb3_kwargs(algo, theirs.agent)
    assert kwargs["policy"] == "CnnPolicy" and kwargs["policy_kwargs"]["net_arch"] == []
    if name != "dqn":  # one Nature CNN for policy and value, as SB3's CnnPolicy
        assert kwargs["policy_kwargs"]["share_features_extractor"]


def test_the_env_source_answers_atari_preset_paths():
    source = GymEnvConfigSource("rl_lab", "gymenv://rl_lab")
    assert source.is_config("env/ALE/Pong-v5") and source.is_config("preset/dqn/ALE/Pong-v5")
    assert source.is_config("preset/ppo/atari")  # env=atari
    assert not source.is_config("preset/dqn/ALE/atari")  # the preset file itself
    assert not source.is_config("preset/dqn/CartPole-v1")  # only files answer other presets
    loaded = source.load_config("preset/ppo/ALE/Breakout-v5").config
    assert list(loaded.defaults) == [{"optional /preset/ppo/ALE": "atari"}]
    assert list(source.load_config("env/ALE/Breakout-v5").config.defaults) == ["atari", "_self_"]


def test_atari_settings_are_validated(compose_cfg):
    with pytest.raises(ConfigError, match="env.backend='envpool'"):
        validate_config(compose_cfg("env=ALE/Pong-v5", "env.backend=envpool"))
    with pytest.raises(ConfigError, match="env.atari.frame_stack=0"):
        validate_config(compose_cfg("env=ALE/Pong-v5", "env.atari.frame_stack=0"))
    with pytest.raises(ConfigError, match="env.atari.frameskip is not an Atari setting"):
        validate_config(compose_cfg("env=ALE/Pong-v5", "+env.atari.frameskip=1"))
    with pytest.raises(ConfigError, match="env.atari is missing"):
        validate_config(compose_cfg("env=CartPole-v1", "env.id=ALE/Pong-v5"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_wrapper_stack_gives_stacked_uint8_frames(compose_cfg, backend):
    cfg = compose_cfg("env=ALE/Pong-v5", f"env.backend={backend}")
    space, actions = env_spaces(cfg.env)
    assert space.shape == (4, 84, 84) and space.dtype == np.uint8 and actions.n == 6
    envs = make_vec_env(cfg.env, num_envs=2)
    try:
        for obs, _, next_obs, rewards, terminated, truncated, _ in play(envs, 30, n_actions=6):
            assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8
            assert np.abs(rewards).max() <= 1.0
            going_on = ~(terminated | truncated)  # a stack: one new frame per step
            assert np.array_equal(next_obs[going_on, :-1], obs[going_on, 1:])
        assert next_obs[:, -1].any()
    finally:
        envs.close()
    single = make_env(cfg.env)  # one game, as recorded in videos and used by SB3
    obs, _ = single.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    assert not obs[:3].any() and obs[3].any()  # a fresh stack is zero-padded
    single.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_training_ends_episodes_on_lost_lives_evaluation_plays_whole_games(compose_cfg, backend):
    """Breakout has 5 lives: training envs end an episode per life (the game goes on, and the
    episode statistics count whole games); evaluation envs end only at game over."""
    cfg = compose_cfg("env=ALE/Breakout-v5", f"env.backend={backend}")
    for training in (True, False):
        envs = make_vec_env(cfg.env, num_envs=1, training=training)
        ends, lives_lost, games, previous_lives = 0, 0, [], 5
        try:
            for *_, terminated, truncated, infos in play(envs, 2000):
                lives = int(infos["lives"][0])
                ends += int(terminated[0] | truncated[0])
                if "episode" in infos:
                    games.append(int(infos["episode"]["l"][0]))
                    break
                lives_lost += previous_lives - lives
                previous_lives = lives
        finally:
            envs.close()
        assert len(games) == 1 and lives_lost == 4  # the 5th life ends the game
        assert ends == (5 if training else 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_training_rewards_are_clipped_evaluation_scores_are_raw(compose_cfg, backend):
    """Space Invaders pays 5 to 30 points per invader."""
    cfg = compose_cfg("env=ALE/SpaceInvaders-v5", f"env.backend={backend}")
    maxima = {}
    for training in (True, False):
        envs = make_vec_env(cfg.env, num_envs=2, training=training)
        try:
            maxima[training] = max(np.abs(step[3]).max() for step in play(envs, 300))
        finally:
            envs.close()
    assert maxima[True] == 1.0 and maxima[False] >= 5.0


def test_evaluation_scores_whole_unclipped_games(compose_cfg):
    cfg = compose_cfg("env=ALE/SpaceInvaders-v5", "env.backend=ale_vector")
    rng = np.random.default_rng(0)
    evaluator = Evaluator(cfg.env, episodes=2, seed=7)
    result = evaluator.evaluate(lambda obs: rng.integers(0, 6, len(obs)))
    evaluator.close()
    # a random player shoots a few invaders (5+ points each) over all three lives
    assert min(result.returns) >= 5 and all(r % 5 == 0 for r in result.returns)
    assert min(result.lengths) > 200


@pytest.mark.parametrize("backend", BACKENDS)
def test_frame_storage_round_trips_real_games(compose_cfg, backend):
    """Replay frames of two Breakout games, across lost lives, game overs and wrap-around, as
    the off-policy loop adds them: every sampled stack is the one the env produced."""
    cfg = compose_cfg("env=ALE/Breakout-v5", f"env.backend={backend}", "env.max_episode_steps=60")
    envs = make_vec_env(cfg.env, num_envs=2)
    buffer = FrameReplayBuffer(200, (4, 84, 84), num_envs=2)
    added, ends = [], 0
    try:
        for obs, _, next_obs, rewards, terminated, truncated, infos in play(envs, 400):
            real_next = next_obs.copy()
            for i in np.flatnonzero(terminated | truncated):
                real_next[i] = infos["final_obs"][i]
            ends += int((terminated | truncated).sum())
            ids = np.arange(len(added), len(added) + 2)
            buffer.add(obs, ids, rewards, real_next, terminated, truncated)
            added.extend(zip(obs, real_next, strict=True))
    finally:
        envs.close()
    assert ends >= 8 and len(buffer) == 200
    batch = buffer.sample(128, np.random.default_rng(0))
    for i, action in enumerate(batch.actions):
        np.testing.assert_array_equal(batch.obs[i], added[action][0])
        np.testing.assert_array_equal(batch.next_obs[i], added[action][1])


def test_nature_cnn_scales_uint8_frames_on_the_device():
    cnn = NatureCNN((4, 84, 84))
    frames = torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8)
    features = cnn(frames)
    assert features.shape == (3, 512) and features.dtype == torch.float32
    torch.testing.assert_close(features, cnn(frames.float() / 255.0))


def test_mixed_precision_runs_the_encoder_in_bfloat16_and_returns_float32():
    space = gym.spaces.Box(0, 255, (4, 36, 36), np.uint8)  # small frames: bfloat16 on a CPU
    kwargs = dict(encoder={"type": "nature_cnn"}, shared=True)
    exact = ActorCriticPolicy(space, gym.spaces.Discrete(6), **kwargs)
    mixed = ActorCriticPolicy(space, gym.spaces.Discrete(6), **kwargs, mixed_precision=True)
    mixed.load_state_dict(exact.state_dict())
    frames = torch.randint(0, 256, (2, 4, 36, 36), dtype=torch.uint8)
    (dist, values, _), (dist_ref, values_ref, _) = mixed(frames), exact(frames)
    assert values.dtype == dist.logits.dtype == torch.float32
    torch.testing.assert_close(values, values_ref, atol=0.05, rtol=0.05)  # bfloat16: 3 digits
    torch.testing.assert_close(dist.logits, dist_ref.logits, atol=0.05, rtol=0.05)


def test_mixed_precision_needs_cuda_or_native_bfloat16(compose_cfg, monkeypatch):
    from rl_lab.rl import buffers

    monkeypatch.setattr(buffers, "native_bfloat16", lambda: False)
    cfg = compose_cfg("agent=dqn", "env=ALE/Pong-v5", "agent.mixed_precision=true")
    with pytest.raises(ConfigError, match="mixed_precision=true needs a CUDA device"):
        build_agent(cfg, *env_spaces(cfg.env), "cpu")


#: A few thousand Pong steps: the time limit keeps episodes (and evaluations) short.
PONG = [
    "env=ALE/Pong-v5",
    "env.max_episode_steps=100",
    "eval.episodes=1",
    "eval.final_episodes=2",
    "logging.log_freq=500",
    "progress=false",
]


@pytest.mark.parametrize(
    ("backend", "num_envs"), [("gymnasium", 1), ("ale_vector", 2)], ids=["gym-1env", "ale-2env"]
)
def test_dqn_trains_on_pong(compose_cfg, tmp_path, backend, num_envs):
    overrides = [
        "agent=dqn", *PONG, f"env.backend={backend}", f"env.num_envs={num_envs}",
        "total_steps=1000", "agent.learning_starts=800", "agent.buffer_size=2000",
        "agent.target_update_interval=100", "eval.freq=500", "checkpointing.freq=500",
    ]  # fmt: skip
    results = app.run(compose_cfg(*overrides), tmp_path, overrides)
    assert results["env_steps"] == 1000 and results["gradient_steps"] == 200 // (4 * num_envs)
    assert results["eval"]["episodes"] == 2 and 90 <= results["eval"]["mean_length"] <= 100
    assert results["episodes"] >= 8  # whole (time-limited) games were counted
    payload = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert payload["buffer"]["frames"].shape[1:] == (84, 84)  # frames, not stacks


def test_sb3_baseline_trains_on_pong_with_the_same_env_construction(compose_cfg, tmp_path):
    overrides = [
        "agent=ppo", "impl=sb3", *PONG, "env.num_envs=2", "total_steps=256", "agent.n_steps=64",
        "agent.batch_size=128", "agent.n_epochs=1", "eval.freq=0", "checkpointing.freq=0",
    ]  # fmt: skip
    results = app.run(compose_cfg(*overrides), tmp_path, overrides)
    assert results["env_steps"] == 256 and results["episodes"] >= 2  # whole games (Monitor)
    assert 90 <= results["eval"]["mean_length"] <= 100


def test_ppo_trains_on_pong(compose_cfg, tmp_path):
    overrides = [
        "agent=ppo", *PONG, "env.backend=ale_vector", "env.num_envs=4", "total_steps=1024",
        "agent.n_steps=128", "agent.batch_size=256", "agent.n_epochs=2", "eval.freq=0",
        "checkpointing.freq=0",
    ]  # fmt: skip
    results = app.run(compose_cfg(*overrides), tmp_path, overrides)
    assert results["env_steps"] == 1024 and results["gradient_steps"] == 2 * 2 * 2
    assert 90 <= results["eval"]["mean_length"] <= 100
