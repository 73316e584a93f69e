import pytest
import torch

from rl_lab.nets.recurrent import LSTMCore

T, B, F, H = 6, 3, 5, 8


@pytest.fixture
def core() -> LSTMCore:
    torch.manual_seed(0)
    return LSTMCore(F, hidden_size=H, num_layers=2)


def test_initial_state_is_zeros(core: LSTMCore) -> None:
    h, c = core.initial_state(B)
    assert h.shape == c.shape == (2, B, H)
    assert not h.any() and not c.any()
    assert core.out_features == H


def test_sequence_shapes(core: LSTMCore) -> None:
    out, (h, c) = core(torch.randn(T, B, F), core.initial_state(B))
    assert out.shape == (T, B, H)
    assert h.shape == c.shape == (2, B, H)
    torch.testing.assert_close(out[-1], h[-1])  # last layer's final hidden state


def test_single_steps_match_one_sequence_call(core: LSTMCore) -> None:
    x = torch.randn(T, B, F)
    seq_out, seq_state = core(x, core.initial_state(B))
    state = core.initial_state(B)
    for t in range(T):
        step_out, state = core(x[t], state)
        assert step_out.shape == (B, H)
        torch.testing.assert_close(step_out, seq_out[t])
    torch.testing.assert_close(state, seq_state)


def _reference_with_resets(core: LSTMCore, x: torch.Tensor, starts: torch.Tensor):
    """Step-by-step reference: zero the state wherever an episode starts."""
    h, c = core.initial_state(x.shape[1])
    outs = []
    for t in range(x.shape[0]):
        keep = (~starts[t]).float().view(1, -1, 1)
        out, (h, c) = core.lstm(x[t : t + 1], (h * keep, c * keep))
        outs.append(out[0])
    return torch.stack(outs), (h, c)


def test_reset_equals_fresh_state_and_spares_other_envs(core: LSTMCore) -> None:
    x = torch.randn(T, B, F)
    starts = torch.zeros(T, B, dtype=torch.bool)
    starts[3, 1] = True
    out, state = core(x, core.initial_state(B), episode_starts=starts)

    # From step 3 on, env 1 behaves exactly like a fresh sequence started at step 3.
    fresh_out, _ = core(x[3:, 1:2], core.initial_state(1))
    torch.testing.assert_close(out[3:, 1], fresh_out[:, 0])
    # Without the reset the output at step 3 differs (the test could fail).
    no_reset_out, _ = core(x, core.initial_state(B))
    assert not torch.allclose(out[3, 1], no_reset_out[3, 1])
    # Other envs, and env 1 before the reset, are unaffected.
    torch.testing.assert_close(out[:, [0, 2]], no_reset_out[:, [0, 2]])
    torch.testing.assert_close(out[:3, 1], no_reset_out[:3, 1])

    ref_out, ref_state = _reference_with_resets(core, x, starts)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(state, ref_state)


def test_many_resets_float_mask_match_reference(core: LSTMCore) -> None:
    torch.manual_seed(1)
    x = torch.randn(T, B, F)
    starts = torch.rand(T, B) < 0.3
    starts[0, 0] = True
    state = (torch.randn(2, B, H), torch.randn(2, B, H))  # non-zero carried-in state
    out, new_state = core(x, state, episode_starts=starts.float())
    h, c = state
    outs = []
    for t in range(T):
        keep = (~starts[t]).float().view(1, -1, 1)
        o, (h, c) = core.lstm(x[t : t + 1], (h * keep, c * keep))
        outs.append(o[0])
    torch.testing.assert_close(out, torch.stack(outs))
    torch.testing.assert_close(new_state, (h, c))


def test_single_step_reset_zeroes_state(core: LSTMCore) -> None:
    x = torch.randn(B, F)
    carried = (torch.randn(2, B, H), torch.randn(2, B, H))
    out, _ = core(x, carried, episode_starts=torch.tensor([True, False, True]))
    fresh, _ = core(x, core.initial_state(B))
    torch.testing.assert_close(out[[0, 2]], fresh[[0, 2]])
    assert not torch.allclose(out[1], fresh[1])


def test_none_state_means_zeros(core: LSTMCore) -> None:
    x = torch.randn(T, B, F)
    torch.testing.assert_close(core(x, None)[0], core(x, core.initial_state(B))[0])


def test_bad_shapes_raise(core: LSTMCore) -> None:
    with pytest.raises(ValueError, match=r"expected \(6, 3\)"):
        core(torch.randn(T, B, F), None, episode_starts=torch.zeros(T, B + 1))
    with pytest.raises(ValueError, match="expects"):
        core(torch.randn(F), None)


def test_gradients_flow_through_resets(core: LSTMCore) -> None:
    starts = torch.zeros(T, B, dtype=torch.bool)
    starts[2] = True
    out, _ = core(torch.randn(T, B, F), core.initial_state(B), episode_starts=starts)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in core.parameters())
