import copy

import pytest
import torch
from torch import nn

from rl_lab.nets import MLP
from rl_lab.nets.flat import FlatAdam, FlatParameters, FlatRMSprop


def make_pair():
    torch.manual_seed(0)
    net = nn.Sequential(MLP(5, [8, 8]), nn.Linear(8, 3))
    return net, copy.deepcopy(net)


def test_flat_training_matches_per_tensor_training():
    net, reference = make_pair()
    flat = FlatParameters(net)
    opt = torch.optim.Adam([flat.param], lr=1e-2)
    ref_opt = torch.optim.Adam(reference.parameters(), lr=1e-2)
    x, y = torch.randn(16, 5), torch.randn(16, 3)
    for _ in range(5):
        flat.zero_grad()
        nn.functional.mse_loss(net(x), y).backward()
        norm = flat.clip_grad_norm_(0.1)
        opt.step()
        ref_opt.zero_grad()
        nn.functional.mse_loss(reference(x), y).backward()
        ref_norm = nn.utils.clip_grad_norm_(reference.parameters(), 0.1)
        ref_opt.step()
        torch.testing.assert_close(norm, ref_norm)
    for p, q in zip(net.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_parameters_and_gradients_stay_views_of_the_flat_tensors():
    net, _ = make_pair()
    flat = FlatParameters(net)
    net(torch.randn(4, 5)).sum().backward()
    start, end = flat.param.grad.data_ptr(), flat.param.grad.data_ptr() + flat.param.numel() * 4
    for p in net.parameters():
        assert start <= p.grad.data_ptr() < end
    assert flat.param.grad.abs().sum() > 0
    flat.zero_grad()
    assert all(p.grad.abs().sum() == 0 for p in net.parameters())


def test_load_state_dict_writes_through_to_the_flat_tensor():
    net, other = make_pair()
    with torch.no_grad():
        for p in other.parameters():
            p.add_(1.0)
    flat = FlatParameters(net)
    net.load_state_dict(other.state_dict())
    expected = torch.cat([p.detach().reshape(-1) for p in other.parameters()])
    torch.testing.assert_close(flat.param.detach(), expected)


def test_module_without_parameters_is_rejected():
    with pytest.raises(ValueError, match="no trainable"):
        FlatParameters(nn.ReLU())


def test_flat_adam_matches_torch_fused_adam_bit_for_bit():
    net, reference = make_pair()
    flat, ref_flat = FlatParameters(net), FlatParameters(reference)
    opt = FlatAdam(flat, lr=1e-2)
    ref_opt = torch.optim.Adam([ref_flat.param], lr=1e-2, fused=True)
    x, y = torch.randn(16, 5), torch.randn(16, 3)
    for step in range(10):
        if step == 5:  # a schedule changes the learning rate mid-way
            opt.param_groups[0]["lr"] = ref_opt.param_groups[0]["lr"] = 3e-3
        for model, f, o in ((net, flat, opt), (reference, ref_flat, ref_opt)):
            f.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            o.step()
    assert torch.equal(flat.param, ref_flat.param)
    restored = FlatAdam(FlatParameters(make_pair()[0]), lr=1.0)
    restored.load_state_dict(opt.state_dict())
    assert torch.equal(restored.exp_avg_sq, opt.exp_avg_sq) and restored.step_count == 10
    assert restored.param_groups[0]["lr"] == 3e-3


def test_step_from_fresh_gradients_matches_backward_clip_and_step():
    net, reference = make_pair()
    flat, ref_flat = FlatParameters(net), FlatParameters(reference)
    opt, ref_opt = FlatAdam(flat, lr=1e-2), FlatAdam(ref_flat, lr=1e-2)
    initial = flat.param.detach().clone()
    x, y = torch.randn(16, 5), torch.randn(16, 3)
    for max_norm in (0.05, 0.1, 1e3, 1e3, 0.05):  # clipped and not clipped
        loss = nn.functional.mse_loss(net(x), y)
        norm = opt.step_from(torch.autograd.grad(loss, flat.params), max_norm)
        ref_flat.zero_grad()
        nn.functional.mse_loss(reference(x), y).backward()
        ref_norm = ref_flat.clip_grad_norm_(max_norm)
        ref_opt.step()
        torch.testing.assert_close(norm, ref_norm)
        torch.testing.assert_close(flat.param, ref_flat.param)
    torch.testing.assert_close(opt.exp_avg_sq, ref_opt.exp_avg_sq)
    assert opt.step_count == ref_opt.step_count == 5
    assert (flat.param - initial).abs().max() > 1e-3  # the steps moved the parameters


def _train(pairs, steps, x, y, switch_lr_at=None):
    """``steps`` updates of each (model, flat, optimizer) on the same batch, with a clip."""
    for step in range(steps):
        if step == switch_lr_at:  # a schedule changes the learning rate mid-way
            for _, _, o in pairs:
                o.param_groups[0]["lr"] = 3e-3
        for model, f, o in pairs:
            f.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            f.clip_grad_norm_(0.5)
            o.step()


def test_flat_rmsprop_matches_torch_rmsprop_bit_for_bit():
    net, reference = make_pair()
    flat, ref_flat = FlatParameters(net), FlatParameters(reference)
    opt = FlatRMSprop(flat, lr=1e-2, alpha=0.99, eps=1e-5)
    ref_opt = torch.optim.RMSprop([ref_flat.param], lr=1e-2, alpha=0.99, eps=1e-5)
    x, y = torch.randn(16, 5), torch.randn(16, 3)
    _train([(net, flat, opt), (reference, ref_flat, ref_opt)], 10, x, y, switch_lr_at=5)
    assert torch.equal(flat.param, ref_flat.param)
    restored = FlatRMSprop(FlatParameters(make_pair()[0]), lr=1.0)
    restored.load_state_dict(opt.state_dict())
    assert torch.equal(restored.square_avg, opt.square_avg) and restored.step_count == 10
    assert restored.param_groups[0]["lr"] == 3e-3


@pytest.mark.parametrize(
    ("flat_cls", "torch_cls", "kwargs"),
    [
        (FlatAdam, torch.optim.Adam, {"eps": 1e-5}),
        (FlatRMSprop, torch.optim.RMSprop, {"alpha": 0.99, "eps": 1e-5}),
    ],
)
def test_a_torch_optim_state_from_an_older_checkpoint_continues_bit_for_bit(
    flat_cls, torch_cls, kwargs
):
    """Checkpoints of PPO and A2C written while they ran ``torch.optim`` on the flat tensor
    resume with the flat optimizer, on the same trajectory."""
    net, reference = make_pair()
    flat, ref_flat = FlatParameters(net), FlatParameters(reference)
    fused = {"fused": True} if torch_cls is torch.optim.Adam else {}
    old = torch_cls([flat.param], lr=1e-2, **kwargs, **fused)
    ref_opt = torch_cls([ref_flat.param], lr=1e-2, **kwargs, **fused)
    x, y = torch.randn(16, 5), torch.randn(16, 3)
    _train([(net, flat, old), (reference, ref_flat, ref_opt)], 4, x, y)
    resumed = flat_cls(flat, lr=1.0, **kwargs)
    resumed.load_state_dict(old.state_dict())  # what torch.save kept in last.pt
    assert resumed.param_groups[0]["lr"] == 1e-2
    _train([(net, flat, resumed), (reference, ref_flat, ref_opt)], 4, x, y)
    assert torch.equal(flat.param, ref_flat.param)
    fresh = flat_cls(FlatParameters(make_pair()[0]), lr=1.0, **kwargs)
    fresh.load_state_dict(torch_cls([nn.Parameter(torch.zeros(3))], lr=0.5).state_dict())
    assert fresh.step_count == 0 and fresh.param_groups[0]["lr"] == 0.5  # never stepped
