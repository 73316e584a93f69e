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


def episode_buffer(num_envs: int = 1) -> ReplayBuffer:
    """Env 0: rewards 1, 2, 3 (terminated), then 4, 5 (truncated), then 6 (ongoing)."""
    buffer = ReplayBuffer(16, (1,), np.float32, num_envs=num_envs)
    steps = [(1, 0, 0), (2, 0, 0), (3, 1, 0), (4, 0, 0), (5, 0, 1), (6, 0, 0)]
    for i, (reward, terminated, truncated) in enumerate(steps):
        obs = np.full((num_envs, 1), i, np.float32)
        buffer.add(
            obs, np.zeros(num_envs, np.int64), np.full(num_envs, reward, np.float32), obs + 0.5,
            np.full(num_envs, terminated), np.full(num_envs, truncated),
        )  # fmt: skip
    return buffer


class FixedIndices:
    """A stand-in generator that 'samples' the given indices."""

    def __init__(self, idx):
        self.idx = np.asarray(idx)

    def integers(self, low, high, size):
        return self.idx


@pytest.mark.parametrize("num_envs", [1, 2])
def test_n_step_returns_stop_at_episode_ends_and_the_newest_step(num_envs):
    buffer = episode_buffer(num_envs)
    starts = np.array([0, 1, 2, 3, 4, 5]) * num_envs  # env 0's slots
    batch = buffer.sample(6, FixedIndices(starts), n_steps=3, gamma=0.5)
    # from step 0: 1 + .5*2 + .25*3, ends terminated at step 2 (no bootstrap)
    # from step 1: 2 + .5*3 (terminated); from step 2: 3 (terminated)
    # from step 3: 4 + .5*5, truncated at step 4: bootstraps from step 4's next_obs with .25
    # from step 4: 5 (truncated); from step 5: 6, the newest step: bootstraps with .5
    np.testing.assert_allclose(batch.rewards, [2.75, 3.5, 3.0, 6.5, 5.0, 6.0])
    np.testing.assert_allclose(batch.terminated, [1, 1, 1, 0, 0, 0])
    np.testing.assert_allclose(batch.discounts, [0.125, 0.25, 0.5, 0.25, 0.5, 0.5])
    np.testing.assert_allclose(batch.next_obs[:, 0], [2.5, 2.5, 2.5, 4.5, 4.5, 5.5])
    np.testing.assert_allclose(batch.obs[:, 0], [0, 1, 2, 3, 4, 5])


def test_one_step_batches_leave_discounts_to_the_agent():
    batch = episode_buffer().sample(4, np.random.default_rng(0))
    assert batch.discounts is None


def test_n_step_returns_follow_the_ring_across_wrap_around():
    buffer = ReplayBuffer(4, (1,), np.float32)
    for i in range(6):  # slots now hold steps 4, 5, 2, 3 (oldest is slot 2)
        obs = np.full((1, 1), i, np.float32)
        buffer.add(obs, np.zeros(1, np.int64), np.array([float(i)]), obs, np.zeros(1))
    batch = buffer.sample(2, FixedIndices([3, 1]), n_steps=3, gamma=1.0)
    assert batch.rewards.tolist() == [3 + 4 + 5, 5]  # step 3 runs on into slots 0, 1
    assert batch.discounts.tolist() == [1.0, 1.0]


def test_native_bfloat16_reads_the_cpu_flags():
    from rl_lab.rl.buffers import native_bfloat16

    flags = "flags\t\t: fpu sse2 avx2 avx512f avx512bw"
    assert not native_bfloat16(f"processor\t: 0\n{flags}\n")
    assert native_bfloat16(f"processor\t: 0\n{flags} avx512_bf16 avx512_vnni\n")
    assert native_bfloat16(f"{flags} amx_bf16 amx_tile\n")
    assert not native_bfloat16("flags: avx512_bf16x\n")  # a whole flag, not a prefix
