import math

import torch
from torch import distributions as D

from rl_lab.nets.distributions import Categorical, DiagGaussian
from rl_lab.nets.heads import CategoricalHead, GaussianHead


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
