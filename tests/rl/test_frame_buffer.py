import numpy as np
import pytest
import torch

from rl_lab.rl.buffers import ReplayBuffer
from rl_lab.rl.frame_buffer import FrameReplayBuffer

FRAME = (6, 5)  # small frames keep the tests fast; the layout does not depend on the size


class StackedFrames:
    """Vector of fake games with frame-stacked observations and same-step autoreset.

    Every frame is random (never zero, never equal to another), episodes end at random
    (terminated or truncated); ``padding`` is how a fresh stack is filled: ``zero``, ``reset``
    (copies of the first frame) or ``keep`` (the previous episode's frames stay, as after a
    lost life in ALE's vector env).
    """

    def __init__(self, num_envs, stack=4, padding="zero", end_prob=0.08, seed=0):
        self.n, self.k, self.padding = num_envs, stack, padding
        self.rng = np.random.default_rng(seed)
        self.end_prob = end_prob
        self.obs = np.stack([self._fresh(None) for _ in range(num_envs)])

    def _frame(self):
        return self.rng.integers(1, 256, size=FRAME, dtype=np.uint8)

    def _fresh(self, previous):
        first = self._frame()
        if self.padding == "zero":
            pad = np.zeros((self.k - 1, *FRAME), np.uint8)
        elif self.padding == "reset":
            pad = np.repeat(first[None], self.k - 1, axis=0)
        else:
            pad = (
                previous[1:]
                if previous is not None
                else np.stack([self._frame() for _ in range(self.k - 1)])
            )
        return np.concatenate([pad, first[None]])

    def step(self):
        """Returns (obs, real next_obs, terminated, truncated) and moves on."""
        obs = self.obs.copy()
        new_frames = np.stack([self._frame() for _ in range(self.n)])[:, None]
        real_next = np.concatenate([obs[:, 1:], new_frames], axis=1)
        ends = self.rng.random(self.n) < self.end_prob
        terminated = ends & (self.rng.random(self.n) < 0.5)
        truncated = ends & ~terminated
        self.obs = real_next.copy()
        for e in np.flatnonzero(ends):
            self.obs[e] = self._fresh(real_next[e])
        return obs, real_next, terminated, truncated


def fill(buffer, game, steps, first=0):
    """Add ``steps`` vector steps; actions number the transitions from ``first``. Returns what
    was added, in that order."""
    added = []
    for t in range(steps):
        obs, next_obs, terminated, truncated = game.step()
        ids = first + np.arange(t * game.n, (t + 1) * game.n)
        rewards = ids.astype(np.float32)
        buffer.add(obs, ids, rewards, next_obs, terminated, truncated)
        added.extend(zip(obs, next_obs, terminated, truncated, strict=True))
    return added


def check_samples(buffer, added, batch=256):
    batch_ = buffer.sample(batch, np.random.default_rng(1))
    assert batch_.obs.dtype == np.uint8 and batch_.obs.shape == (batch, 4, *FRAME)
    for i, action in enumerate(batch_.actions):
        obs, next_obs, terminated, _ = added[action]
        np.testing.assert_array_equal(batch_.obs[i], obs)
        np.testing.assert_array_equal(batch_.next_obs[i], next_obs)
        assert batch_.terminated[i] == terminated
    return batch_.actions


@pytest.mark.parametrize("padding", ["zero", "reset", "keep"])
@pytest.mark.parametrize("num_envs", [1, 3])
def test_sampled_stacks_equal_the_observed_ones_across_episodes_and_wraparound(padding, num_envs):
    game = StackedFrames(num_envs, padding=padding)
    buffer = FrameReplayBuffer(60, (4, *FRAME), num_envs=num_envs, frame_slack=1.0)
    added = fill(buffer, game, 400 // num_envs)  # wraps the ring several times
    assert len(buffer) == buffer.capacity
    drawn = check_samples(buffer, added)
    # only the newest `capacity` transitions can be drawn
    assert drawn.min() >= len(added) - buffer.capacity


def test_frames_are_stored_once():
    game = StackedFrames(2, end_prob=0.0)
    buffer = FrameReplayBuffer(100, (4, *FRAME), num_envs=2)
    fill(buffer, game, 10)
    # 20 transitions: 2 first frames + one new frame per transition (zero padding is shared)
    assert buffer.frames_written == 2 + 20


def test_very_short_episodes_drop_the_oldest_transitions_not_their_frames():
    game = StackedFrames(2, padding="keep", end_prob=1.0)  # every step ends an episode
    buffer = FrameReplayBuffer(50, (4, *FRAME), num_envs=2, frame_slack=0.0)
    added = fill(buffer, game, 200)
    assert 0 < len(buffer) < buffer.capacity  # 5 frames per transition do not all fit
    check_samples(buffer, added)


@pytest.mark.parametrize("num_envs", [1, 2])
def test_n_step_returns_match_the_plain_buffer(num_envs):
    """Same transitions, same draws: the same n-step targets as ReplayBuffer (before wrap)."""
    game = StackedFrames(num_envs, padding="reset", end_prob=0.1)
    frames = FrameReplayBuffer(400, (4, *FRAME), num_envs=num_envs)
    plain = ReplayBuffer(400, (4, *FRAME), np.uint8, num_envs=num_envs)
    for _ in range(150 // num_envs):
        obs, next_obs, terminated, truncated = game.step()
        actions = np.arange(num_envs)
        rewards = game.rng.normal(size=num_envs).astype(np.float32)
        for buffer in (frames, plain):
            buffer.add(obs, actions, rewards, next_obs, terminated, truncated)
    a = frames.sample(64, np.random.default_rng(3), n_steps=3, gamma=0.9)
    b = plain.sample(64, np.random.default_rng(3), n_steps=3, gamma=0.9)
    for field in ("obs", "actions", "rewards", "next_obs", "terminated", "discounts"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)


def test_a_non_consecutive_observation_is_an_error():
    game = StackedFrames(1, end_prob=0.0)
    buffer = FrameReplayBuffer(20, (4, *FRAME))
    obs, next_obs, terminated, truncated = game.step()
    buffer.add(obs, [0], [0.0], next_obs, terminated, truncated)
    with pytest.raises(ValueError, match="not the previous next_obs"):
        buffer.add(obs, [0], [0.0], next_obs, terminated, truncated)


def test_state_dict_round_trip_and_resume_starts_new_episodes(tmp_path):
    game = StackedFrames(2, padding="zero")
    buffer = FrameReplayBuffer(40, (4, *FRAME), num_envs=2)
    added = fill(buffer, game, 70)
    path = tmp_path / "buffer.pt"
    torch.save(buffer.state_dict(), path)
    restored = FrameReplayBuffer(40, (4, *FRAME), num_envs=2)
    restored.load_state_dict(torch.load(path, weights_only=True))
    assert (len(restored), restored.pos) == (len(buffer), buffer.pos)
    check_samples(restored, added)
    # a resumed run starts fresh episodes: their first observation is stored in full
    fresh = StackedFrames(2, padding="zero", seed=5)
    more = fill(restored, fresh, 30, first=len(added))
    check_samples(restored, added + more)
    with pytest.raises(ValueError, match="capacity"):
        FrameReplayBuffer(80, (4, *FRAME), num_envs=2).load_state_dict(buffer.state_dict())


@pytest.mark.parametrize("capacity", [100_000, 1_000_000])
def test_memory_is_about_one_frame_per_transition(capacity):
    """The bound of the Atari setting: <= 1.1 x transitions x 84 x 84 bytes (np.empty: the
    pages are only reserved here; scripts/bench_replay_memory.py measures resident memory)."""
    buffer = FrameReplayBuffer(capacity, (4, 84, 84), num_envs=1)
    assert buffer.nbytes <= 1.1 * capacity * 84 * 84
    assert buffer.frames.nbytes >= capacity * 84 * 84  # one frame per transition at least
