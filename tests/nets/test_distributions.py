import math

import pytest
import torch
from torch import distributions as D

from rl_lab.nets.distributions import (
    Categorical,
    DiagGaussian,
    MultiCategorical,
    SquashedDiagGaussian,
    SquashedStateDependentGaussian,
    StateDependentGaussian,
)
from rl_lab.nets.heads import (
    CategoricalHead,
    GaussianHead,
    MultiCategoricalHead,
    SquashedGaussianHead,
    StateDependentNoiseHead,
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


def test_state_dependent_gaussian_is_the_gaussian_of_its_noise() -> None:
    """gSDE: for fixed exploration weights the noise is latent @ (std * eps); its density is the
    Gaussian with variance latent^2 @ std^2 (+ SB3's 1e-6), checked against torch."""
    torch.manual_seed(0)
    mean = torch.randn(6, 2, dtype=torch.float64)
    latent = torch.randn(6, 4, dtype=torch.float64)
    std = torch.rand(4, 2, dtype=torch.float64, requires_grad=True)
    eps = torch.randn(6, 4, 2, dtype=torch.float64)  # one matrix per row
    dist = StateDependentGaussian(mean, latent, std, eps)
    per_row = torch.stack([latent[i] @ (std * eps[i]) for i in range(6)])
    torch.testing.assert_close(dist.sample(), mean + per_row)
    shared = StateDependentGaussian(mean, latent, std, eps[0])  # one matrix for the batch
    torch.testing.assert_close(shared.sample(), mean + latent @ (std * eps[0]))
    scale = (latent.square() @ std.square() + 1e-6).sqrt()
    ref = D.Independent(D.Normal(mean, scale), 1)
    actions = torch.randn(6, 2, dtype=torch.float64)
    torch.testing.assert_close(dist.log_prob(actions), ref.log_prob(actions))
    torch.testing.assert_close(dist.entropy(), ref.entropy())
    assert torch.equal(dist.mode(), mean)
    dist.sample().sum().backward()  # the exploration weights' scale learns through the samples
    assert std.grad is not None and std.grad.abs().sum() > 0
    with pytest.raises(RuntimeError, match="no exploration matrix"):
        StateDependentGaussian(mean, latent, std.detach(), None).sample()


def test_squashed_state_dependent_gaussian_corrects_for_the_tanh() -> None:
    torch.manual_seed(0)
    mean, latent = torch.randn(5, 2, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    std, eps = torch.rand(3, 2, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
    dist = SquashedStateDependentGaussian(mean, latent, std, eps)
    actions, log_prob = dist.rsample()
    pre_tanh = mean + latent @ (std * eps)
    torch.testing.assert_close(actions, torch.tanh(pre_tanh))
    log_std = 0.5 * torch.log(latent.square() @ std.square() + 1e-6)
    torch.testing.assert_close(log_prob, _torch_squashed(mean, log_std).log_prob(actions))
    assert torch.equal(dist.mode(), torch.tanh(mean))


def test_state_dependent_noise_head() -> None:
    torch.manual_seed(0)
    head = StateDependentNoiseHead(8, 2, log_std_init=-1.0)
    assert head.log_std.shape == (8, 2) and (head.log_std == -1.0).all()
    assert head.noise_shape(3) == (3, 8, 2) and head.output_layers() == [head.mean]
    features = torch.randn(3, 8, requires_grad=True)
    head.eps = torch.randn(head.noise_shape(3))
    dist = head(features)
    assert isinstance(dist, StateDependentGaussian) and dist.eps is head.eps
    # PPO/A2C (SB3): the noise does not train the features, only the mean does
    (dist.sample() - dist.mean).sum().backward()
    assert features.grad is not None and torch.equal(features.grad, torch.zeros(3, 8))
    # SAC: squashed, features trained by the noise too, and the mean clipped before the tanh
    sac = StateDependentNoiseHead(8, 2, squash=True, learn_features=True, clip_mean=2.0)
    with torch.no_grad():
        sac.mean.bias.fill_(100.0)
    squashed = sac(features, torch.randn(8, 2))
    assert isinstance(squashed, SquashedStateDependentGaussian)
    assert (squashed.gaussian.mean == 2.0).all() and torch.equal(
        sac.mean_action(features), squashed.gaussian.mean
    )
    features.grad = None
    squashed.sample().sum().backward()
    assert features.grad is not None and features.grad.abs().sum() > 0
