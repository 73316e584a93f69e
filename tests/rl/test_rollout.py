import numpy as np
import pytest
import torch

from rl_lab.rl.rollout import RolloutBuffer, compute_gae


def test_gae_by_hand_with_a_termination_and_a_truncation():
    gamma, lam = 0.9, 0.5
    # env 0: terminated at t=1, truncated at t=3 (bootstraps from V(final_obs) = 2.0)
    # env 1: no episode end; bootstraps from last_values = 3.0
    # env 2: terminated and truncated at t=3: terminal wins, the bootstrap value is ignored
    rewards = np.array([[1, 0, 0], [1, 0, 0], [1, 0, 0], [1, 2, 1]], np.float32)
    values = np.array([[0.5, 1, 0], [0.6, 1, 0], [0.7, 1, 0], [0.8, 1, 0]], np.float32)
    terminated = np.zeros((4, 3), bool)
    truncated = np.zeros((4, 3), bool)
    terminated[1, 0] = truncated[3, 0] = True
    terminated[3, 2] = truncated[3, 2] = True
    bootstrap = np.zeros((4, 3), np.float32)
    bootstrap[3, 0], bootstrap[3, 2] = 2.0, 100.0
    last_values = np.array([-7.0, 3.0, 50.0], np.float32)  # env 0 and 2 ended: unused

    advantages, returns = compute_gae(
        rewards, values, terminated, truncated, bootstrap, last_values, gamma, lam
    )
    c = gamma * lam
    env0 = [1.04 + c * 0.4, 0.4, 1.02 + c * 2.0, 2.0]  # deltas by hand, cut after t=1
    a13 = 2 + 0.9 * 3 - 1
    a12 = -0.1 + c * a13
    a11 = -0.1 + c * a12
    env1 = [-0.1 + c * a11, a11, a12, a13]
    env2 = [c**3, c**2, c, 1.0]
    expected = np.array([env0, env1, env2], np.float32).T
    np.testing.assert_allclose(advantages, expected, rtol=1e-5)
    np.testing.assert_allclose(returns, expected + values, rtol=1e-5)


def test_gae_lambda_one_gives_n_step_returns():
    rewards = np.array([[1.0], [2.0], [3.0]], np.float32)
    values = np.array([[9.0], [-4.0], [0.5]], np.float32)  # do not enter the returns
    no_end = np.zeros((3, 1), bool)
    _, returns = compute_gae(
        rewards, values, no_end, no_end, np.zeros((3, 1)), np.array([4.0]), 0.5, 1.0
    )
    np.testing.assert_allclose(returns[:, 0], [3.25, 4.5, 5.0])


def fill(buffer: RolloutBuffer) -> None:
    """Observation and action of (t, env) both encode ``100 t + env``."""
    n = buffer.n_envs
    for t in range(buffer.n_steps):
        code = 100 * t + np.arange(n)
        buffer.add(
            code[:, None].astype(np.float32),
            code,
            np.ones(n),
            np.full(n, t == 0),
            np.zeros(n, bool),
            np.zeros(n, bool),
            np.zeros(n),
            np.zeros(n),
            np.zeros(n),
        )
    buffer.compute_returns_and_advantages(np.zeros(n), 0.99, 0.95)


def make_buffer(n_steps=4, n_envs=6) -> RolloutBuffer:
    return RolloutBuffer(n_steps, n_envs, (1,), np.float32, (), np.int64)


def test_add_and_compute_check_the_rollout_length():
    buffer = make_buffer()
    buffer.reset()
    with pytest.raises(RuntimeError, match="0 of 4 steps"):
        buffer.compute_returns_and_advantages(np.zeros(6), 0.99, 0.95)
    fill(buffer)
    assert buffer.full
    with pytest.raises(RuntimeError, match="full"):
        fill(buffer)


def test_shuffled_minibatches_cover_the_rollout_once_per_epoch():
    torch.manual_seed(0)
    buffer = make_buffer()
    buffer.reset()
    fill(buffer)
    batches = list(buffer.minibatches(8))
    assert [len(b.obs) for b in batches] == [8, 8, 8]
    codes = torch.cat([b.obs[:, 0] for b in batches]).long()
    assert sorted(codes.tolist()) == sorted(100 * t + e for t in range(4) for e in range(6))
    assert codes.tolist() != sorted(codes.tolist())  # shuffled
    for b in batches:  # fields stay aligned
        assert torch.equal(b.actions, b.obs[:, 0].long())
    (full,) = buffer.minibatches(None)  # one batch in storage (time-major) order
    expected = 100 * torch.arange(4)[:, None] + torch.arange(6)
    assert torch.equal(full.actions, expected.flatten())


def test_sequence_minibatches_hold_whole_env_sequences_with_their_start_state():
    torch.manual_seed(0)
    buffer = make_buffer()
    start_state = torch.arange(6.0).view(1, 1, 1, 6, 1).expand(2, 2, 1, 6, 3).clone()
    buffer.reset(start_state)
    fill(buffer)
    seen = []
    for batch in buffer.minibatches(8, sequences=True):  # 8 = 4 steps x 2 envs
        assert batch.obs.shape == (4, 2, 1) and batch.episode_starts.shape == (4, 2)
        envs = batch.obs[0, :, 0].long()  # step 0 codes are the env indices
        assert torch.equal(batch.obs[:, :, 0], torch.arange(4)[:, None] * 100.0 + envs)
        assert torch.equal(batch.actions, batch.obs[:, :, 0].flatten().long())  # time-major
        assert batch.episode_starts[0].all() and not batch.episode_starts[1:].any()
        assert torch.equal(batch.initial_state, start_state[..., envs, :])
        seen += envs.tolist()
    assert sorted(seen) == list(range(6))
    with pytest.raises(ValueError, match="n_steps=4 times a divisor of n_envs=6"):
        next(buffer.minibatches(16, sequences=True))
