import numpy as np
import pytest

from rl_lab.rl.buffers import ReplayBuffer


def fill(buffer: ReplayBuffer, start: int, n: int) -> None:
    for i in range(start, start + n):
        obs = np.full((1, 2), i, dtype=np.float32)
        buffer.add(obs, np.array([i % 3]), np.array([float(i)]), obs + 0.5, np.array([i % 2]))


def test_wraps_around_and_keeps_the_newest():
    buffer = ReplayBuffer(5, (2,), np.float32)
    fill(buffer, 0, 7)
    assert len(buffer) == 5 and buffer.pos == 2
    # slots 0 and 1 were overwritten by transitions 5 and 6
    assert sorted(buffer.rewards.tolist()) == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert buffer.obs[0, 0] == 5 and buffer.next_obs[1, 0] == 6.5


def test_batched_add_wraps_around():
    buffer = ReplayBuffer(4, (2,), np.float32)
    fill(buffer, 0, 3)
    obs = np.array([[10.0, 10.0], [11.0, 11.0]], dtype=np.float32)
    buffer.add(obs, np.array([0, 1]), np.array([10.0, 11.0]), obs, np.array([0.0, 1.0]))
    assert buffer.pos == 1 and len(buffer) == 4
    assert buffer.obs[3, 0] == 10 and buffer.obs[0, 0] == 11 and buffer.terminated[0] == 1.0


def test_sample_returns_consistent_transitions():
    buffer = ReplayBuffer(100, (2,), np.float32)
    fill(buffer, 0, 50)
    batch = buffer.sample(256, np.random.default_rng(0))
    assert batch.obs.shape == (256, 2) and batch.actions.shape == (256,)
    np.testing.assert_array_equal(batch.obs[:, 0], batch.rewards)
    np.testing.assert_array_equal(batch.next_obs, batch.obs + 0.5)
    np.testing.assert_array_equal(batch.terminated, batch.rewards % 2)
    assert batch.rewards.max() < 50


def test_sampling_is_deterministic_for_a_seed():
    buffer = ReplayBuffer(100, (2,), np.float32)
    fill(buffer, 0, 100)
    a = buffer.sample(32, np.random.default_rng(7))
    b = buffer.sample(32, np.random.default_rng(7))
    np.testing.assert_array_equal(a.rewards, b.rewards)


def test_state_dict_round_trip():
    buffer = ReplayBuffer(8, (2,), np.float32)
    fill(buffer, 0, 11)
    restored = ReplayBuffer(8, (2,), np.float32)
    restored.load_state_dict(buffer.state_dict())
    assert (restored.pos, len(restored)) == (buffer.pos, len(buffer))
    np.testing.assert_array_equal(restored.obs, buffer.obs)
    np.testing.assert_array_equal(restored.terminated, buffer.terminated)
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(9, (2,), np.float32).load_state_dict(buffer.state_dict())


def test_empty_buffer_cannot_be_sampled():
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(4, (1,), np.float32).sample(1, np.random.default_rng(0))
