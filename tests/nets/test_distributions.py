import math

import torch
from torch import distributions as D

from rl_lab.nets.distributions import (
    Categorical,
    DiagGaussian,
    MultiCategorical,
    SquashedDiagGaussian,
)
from rl_lab.nets.heads import (
    CategoricalHead,
    GaussianHead,
    MultiCategoricalHead,
    SquashedGaussianHead,
)


def test_categorical_matches_torch_distributions() -> None:
    torch.manual_seed(0)
    logits = torch.randn(5, 4) * 3
    ours, ref = Categorical(logits), D.Categorical(logits=logits)
    actions = torch.tensor([0, 3, 1, 2, 3])
    torch.testing.assert_close(ours.log_prob(actions), ref.log_prob(actions))
    torch.testing.assert_close(ours.entropy(), ref.entropy())
    assert torch.equal(ours.mode(), logits.argmax(dim=1))
    sample = ours.sample()
    assert sample.shape == (5,) and sample.dtype == torch.int64


def test_multi_categorical_is_independent_categoricals_summed() -> None:
    torch.manual_seed(0)
    logits = torch.randn(6, 3 + 2 + 4) * 2
    ours = MultiCategorical(logits, [3, 2, 4])
    parts = [D.Categorical(logits=chunk) for chunk in logits.split([3, 2, 4], dim=-1)]
    actions = torch.stack([part.sample() for part in parts], dim=-1)
    expected = sum(part.log_prob(actions[:, i]) for i, part in enumerate(parts))
    torch.testing.assert_close(ours.log_prob(actions), expected)
    torch.testing.assert_close(ours.entropy(), sum(part.entropy() for part in parts))
    mode = ours.mode()
    assert mode.shape == (6, 3) and torch.equal(mode[:, 2], logits[:, 5:].argmax(dim=-1))
    sample = ours.sample()
    assert sample.shape == (6, 3) and sample.dtype == torch.int64
    assert (sample[:, 0] < 3).all() and (sample[:, 1] < 2).all() and (sample[:, 2] < 4).all()
    head = MultiCategoricalHead(5, [3, 2, 4])
    assert head(torch.randn(7, 5)).mode().shape == (7, 3) and head.output_layers() == [head.logits]


def test_categorical_samples_follow_the_probabilities() -> None:
    torch.manual_seed(0)
    probs = torch.tensor([0.1, 0.6, 0.3])
    dist = Categorical(probs.log().expand(20_000, 3))
    freq = torch.bincount(dist.sample(), minlength=3).float() / 20_000
    torch.testing.assert_close(freq, probs, atol=0.015, rtol=0)


def test_diag_gaussian_matches_torch_distributions() -> None:
    torch.manual_seed(0)
    mean, log_std = torch.randn(6, 3), torch.randn(3) * 0.5
    ours = DiagGaussian(mean, log_std)
    ref = D.Independent(D.Normal(mean, log_std.exp().expand(6, 3)), 1)
    actions = torch.randn(6, 3) * 2
    torch.testing.assert_close(ours.log_prob(actions), ref.log_prob(actions))
    torch.testing.assert_close(ours.entropy(), ref.entropy())
    assert ours.log_prob(actions).shape == ours.entropy().shape == (6,)
    assert torch.equal(ours.mode(), mean)


def test_diag_gaussian_samples_have_the_right_moments() -> None:
    torch.manual_seed(0)
    mean = torch.tensor([[1.0, -2.0]]).expand(50_000, 2)
    dist = DiagGaussian(mean, torch.tensor([0.0, math.log(0.1)]))
    sample = dist.sample()
    torch.testing.assert_close(sample.mean(0), torch.tensor([1.0, -2.0]), atol=0.02, rtol=0)
    torch.testing.assert_close(sample.std(0), torch.tensor([1.0, 0.1]), atol=0.02, rtol=0)


def test_categorical_head_shapes_and_log_probs() -> None:
    torch.manual_seed(0)
    head = CategoricalHead(8, 5)
    features = torch.randn(7, 8)
    dist = head(features)
    ref = D.Categorical(logits=head.logits(features))
    actions = ref.sample()
    assert dist.log_prob(actions).shape == (7,)
    torch.testing.assert_close(dist.log_prob(actions), ref.log_prob(actions))
    assert head.output_layers() == [head.logits]


def test_gaussian_head_log_std_is_state_independent() -> None:
    torch.manual_seed(0)
    head = GaussianHead(8, 2, log_std_init=-0.5)
    a, b = head(torch.randn(4, 8)), head(torch.randn(4, 8))
    assert a.mean.shape == (4, 2)
    assert not torch.equal(a.mean, b.mean)  # the mean depends on the features ...
    torch.testing.assert_close(a.std, torch.full((4, 2), math.exp(-0.5)))  # ... the std does not
    torch.testing.assert_close(a.std, b.std)
    actions = torch.randn(4, 2)
    ref = D.Independent(D.Normal(a.mean, a.std), 1)
    torch.testing.assert_close(a.log_prob(actions), ref.log_prob(actions))
    assert head.output_layers() == [head.mean]
    assert head.log_std.requires_grad


def _torch_squashed(mean: torch.Tensor, log_std: torch.Tensor) -> D.Distribution:
    normal = D.Normal(mean, log_std.exp().expand_as(mean))
    return D.Independent(D.TransformedDistribution(normal, [D.TanhTransform()]), 1)


def test_squashed_gaussian_log_prob_matches_torch_distributions() -> None:
    """The tanh change of variables, on random inputs, against torch's TanhTransform."""
    torch.manual_seed(0)
    mean = torch.randn(64, 3, dtype=torch.float64) * 2
    log_std = torch.randn(64, 3, dtype=torch.float64) * 0.7
    ours, ref = SquashedDiagGaussian(mean, log_std), _torch_squashed(mean, log_std)
    pre_tanh = mean + log_std.exp() * torch.randn(64, 3, dtype=torch.float64)
    actions = torch.tanh(pre_tanh)
    torch.testing.assert_close(ours.gaussian_log_prob(pre_tanh), ref.log_prob(actions))
    torch.testing.assert_close(ours.log_prob(actions), ref.log_prob(actions))
    # far from the naive log(1 - tanh(u)^2): saturated samples stay finite
    saturated = torch.full((1, 3), 30.0, dtype=torch.float64)
    assert torch.isfinite(ours.gaussian_log_prob(saturated)).all()
    assert torch.equal(ours.mode(), torch.tanh(mean))


def test_squashed_gaussian_rsample_is_reparameterised_and_bounded() -> None:
    torch.manual_seed(0)
    mean = torch.zeros(20_000, 2, requires_grad=True)
    log_std = torch.tensor([0.0, math.log(0.1)], requires_grad=True)
    dist = SquashedDiagGaussian(mean, log_std)
    actions, log_prob = dist.rsample()
    assert actions.shape == (20_000, 2) and log_prob.shape == (20_000,)
    assert (actions.abs() < 1).all()
    torch.testing.assert_close(log_prob, dist.log_prob(actions), atol=1e-3, rtol=1e-4)
    # the log-probability of its own samples: -mean is the entropy's Monte-Carlo estimate
    ref = _torch_squashed(mean.detach(), log_std.detach())
    torch.testing.assert_close(log_prob, ref.log_prob(actions), atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(actions[:, 1].std(), torch.tensor(0.1), atol=0.005, rtol=0)
    (actions.sum() + log_prob.sum()).backward()  # gradients reach mean and log-std
    assert mean.grad is not None and log_std.grad is not None and log_std.grad.abs().sum() > 0


def test_squashed_gaussian_head_clamps_a_state_dependent_log_std() -> None:
    torch.manual_seed(0)
    head = SquashedGaussianHead(8, 2)
    features = torch.randn(5, 8)
    dist = head(features)
    assert isinstance(dist, SquashedDiagGaussian)
    torch.testing.assert_close(dist.gaussian.log_std, head.log_std(features))
    with torch.no_grad():
        head.log_std.bias.fill_(50.0)
    assert dist.gaussian.log_std.shape == (5, 2) and (head(features).gaussian.log_std == 2.0).all()
    assert head.output_layers() == [head.mean, head.log_std]
