"""Action distributions of policy heads: categorical (discrete), independent categoricals
(multi-discrete), diagonal Gaussian (continuous), the tanh-squashed diagonal Gaussian of SAC
(continuous, bounded), and the state-dependent Gaussians of gSDE exploration (both).

Small hand-written classes rather than ``torch.distributions``: a policy builds one per env step,
and these skip argument validation and broadcasting bookkeeping, which dominate the cost for
small networks on a CPU. The tests check every method against ``torch.distributions``.

All expose ``sample()``, ``mode()`` (the greedy action) and ``log_prob(actions)``; the unsquashed
ones also ``entropy()`` (a squashed Gaussian has no closed form). Log-probabilities and entropies
are per sample, shape ``(batch,)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_2 = math.log(2.0)


class Categorical:
    """A categorical distribution over ``n`` actions per sample.

    Args:
        logits: ``(batch, n)`` unnormalised log-probabilities.
    """

    def __init__(self, logits: Tensor) -> None:
        self.logits = logits - logits.logsumexp(dim=-1, keepdim=True)  # log-probabilities

    def sample(self) -> Tensor:
        """``(batch,)`` int64 actions drawn with torch's global RNG."""
        return torch.multinomial(self.logits.exp(), 1).squeeze(-1)

    def mode(self) -> Tensor:
        """``(batch,)`` the most probable action of each sample."""
        return self.logits.argmax(dim=-1)

    def log_prob(self, actions: Tensor) -> Tensor:
        """``(batch,)`` log-probability of ``actions`` (``(batch,)`` integers)."""
        return self.logits.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self) -> Tensor:
        """``(batch,)`` entropy in nats."""
        return -(self.logits.exp() * self.logits).sum(dim=-1)


class MultiCategorical:
    """Independent categorical distributions, one per dimension of a ``MultiDiscrete`` space
    (SB3's ``MultiCategoricalDistribution``): log-probabilities and entropies are summed over
    the dimensions, so they are per sample like :class:`Categorical`'s.

    Args:
        logits: ``(batch, sum(nvec))`` unnormalised log-probabilities, dimension after dimension.
        nvec: the number of choices of each dimension.
    """

    def __init__(self, logits: Tensor, nvec: list[int]) -> None:
        self.parts = [Categorical(chunk) for chunk in torch.split(logits, nvec, dim=-1)]

    def sample(self) -> Tensor:
        """``(batch, len(nvec))`` int64 actions drawn with torch's global RNG."""
        return torch.stack([part.sample() for part in self.parts], dim=-1)

    def mode(self) -> Tensor:
        """``(batch, len(nvec))`` the most probable choice of each dimension."""
        return torch.stack([part.mode() for part in self.parts], dim=-1)

    def log_prob(self, actions: Tensor) -> Tensor:
        """``(batch,)`` log-probability of ``actions`` (``(batch, len(nvec))`` integers)."""
        return torch.stack(
            [part.log_prob(actions[..., i]) for i, part in enumerate(self.parts)], dim=-1
        ).sum(dim=-1)

    def entropy(self) -> Tensor:
        """``(batch,)`` entropy in nats (the sum of the dimensions')."""
        return torch.stack([part.entropy() for part in self.parts], dim=-1).sum(dim=-1)


class DiagGaussian:
    """A Gaussian with a diagonal covariance over ``(batch, action_dim)`` actions.

    Log-probabilities and entropies are summed over the action dimensions (the dimensions are
    independent), so they are per sample like :class:`Categorical`'s.

    Args:
        mean: ``(batch, action_dim)``.
        log_std: log standard deviation, ``(action_dim,)`` (state-independent, broadcast over
            the batch) or ``(batch, action_dim)``.
    """

    def __init__(self, mean: Tensor, log_std: Tensor) -> None:
        self.mean = mean
        self.log_std = log_std.expand_as(mean)
        self.std = self.log_std.exp()

    def sample(self) -> Tensor:
        """``(batch, action_dim)`` unbounded actions drawn with torch's global RNG."""
        return self.mean + self.std * torch.randn_like(self.mean)

    def mode(self) -> Tensor:
        """``(batch, action_dim)`` the mean."""
        return self.mean

    def log_prob(self, actions: Tensor) -> Tensor:
        """``(batch,)`` log-density of ``actions`` (``(batch, action_dim)``)."""
        z = (actions - self.mean) / self.std
        return (-0.5 * z.square() - self.log_std - _HALF_LOG_2PI).sum(dim=-1)

    def entropy(self) -> Tensor:
        """``(batch,)`` differential entropy in nats."""
        return (0.5 + _HALF_LOG_2PI + self.log_std).sum(dim=-1)


class SquashedDiagGaussian:
    """``tanh(u)`` with ``u ~ DiagGaussian(mean, log_std)``: actions in ``(-1, 1)``.

    The policy of SAC (Haarnoja et al. 2018, https://arxiv.org/abs/1801.01290, appendix C). By
    the change of variables, ``log p(a) = log N(u) - sum_i log(1 - tanh(u_i)^2)``; the
    correction is computed as ``2 * (log 2 - u - softplus(-2u))``, the exact and stable form
    (torch's ``TanhTransform``), where Stable-Baselines3 writes ``log(1 - a^2 + 1e-6)``, which
    differs only for saturated actions.

    Args:
        mean: ``(batch, action_dim)`` mean of the Gaussian before the squashing.
        log_std: its log standard deviation, ``(batch, action_dim)`` or ``(action_dim,)``.
    """

    def __init__(self, mean: Tensor, log_std: Tensor) -> None:
        self.gaussian: DiagGaussian | StateDependentGaussian = DiagGaussian(mean, log_std)

    def gaussian_log_prob(self, pre_tanh: Tensor) -> Tensor:
        """``(batch,)`` log-density of the squashed action ``tanh(pre_tanh)``, given the
        Gaussian sample ``pre_tanh`` (``(batch, action_dim)``) it came from."""
        log_det = 2.0 * (_LOG_2 - pre_tanh - F.softplus(-2.0 * pre_tanh))  # log(1 - tanh(u)^2)
        return self.gaussian.log_prob(pre_tanh) - log_det.sum(dim=-1)

    def rsample(self) -> tuple[Tensor, Tensor]:
        """A reparameterised sample (differentiable in ``mean`` and ``log_std``) drawn with
        torch's global RNG: ``(actions (batch, action_dim) in (-1, 1), log_prob (batch,))``."""
        pre_tanh = self.gaussian.sample()
        return torch.tanh(pre_tanh), self.gaussian_log_prob(pre_tanh)

    def sample(self) -> Tensor:
        """``(batch, action_dim)`` actions in ``(-1, 1)``, drawn with torch's global RNG."""
        return torch.tanh(self.gaussian.sample())

    def mode(self) -> Tensor:
        """``(batch, action_dim)`` the squashed mean ``tanh(mean)``, the greedy action."""
        return torch.tanh(self.gaussian.mean)

    def log_prob(self, actions: Tensor) -> Tensor:
        """``(batch,)`` log-density of ``actions`` in ``(-1, 1)``; values at the bounds are
        moved just inside them (``atanh(±1)`` is infinite). Prefer :meth:`rsample`'s
        log-probability, which needs no inverse."""
        bound = 1.0 - torch.finfo(actions.dtype).eps
        return self.gaussian_log_prob(torch.atanh(actions.clamp(-bound, bound)))


class StateDependentGaussian:
    """The action distribution of generalized State-Dependent Exploration (gSDE; Raffin et al.
    2022, https://arxiv.org/abs/2005.05719), Stable-Baselines3's
    ``StateDependentNoiseDistribution``.

    The exploration noise is a linear function of the policy's latent features ``z``:
    ``a = mean + z @ W`` with ``W ~ N(0, std^2)`` entrywise, a ``(latent, action_dim)`` matrix
    that is drawn anew only now and then (see :class:`~rl_lab.nets.heads.StateDependentNoiseHead`).
    Between draws the noise is a smooth, deterministic function of the state, so an episode
    explores consistently instead of jittering at every step. For one draw of ``W`` the action
    is Gaussian with variance ``z^2 @ std^2`` (+ 1e-6, SB3's epsilon) per action dimension; that
    Gaussian gives ``log_prob``, ``entropy`` and ``mode``.

    Args:
        mean: ``(batch, action_dim)``.
        latent: ``(batch, latent)`` features the noise is a function of.
        std: ``(latent, action_dim)`` standard deviations of the entries of ``W``.
        eps: standard-normal draws of ``W / std``: ``(latent, action_dim)`` (one matrix for the
            batch) or ``(batch, latent, action_dim)`` (one per row, e.g. per env); ``None`` when
            the distribution is only scored, never sampled.
    """

    EPSILON = 1e-6

    def __init__(self, mean: Tensor, latent: Tensor, std: Tensor, eps: Tensor | None) -> None:
        self.mean, self.latent, self.weights_std, self.eps = mean, latent, std, eps
        variance = latent.square() @ std.square()
        self.gaussian = DiagGaussian(mean, 0.5 * torch.log(variance + self.EPSILON))

    def noise(self) -> Tensor:
        """``(batch, action_dim)``: ``latent @ (std * eps)``, differentiable in ``std`` (and in
        ``latent`` when the head lets features learn)."""
        if self.eps is None:
            raise RuntimeError("this gSDE distribution has no exploration matrix to sample with")
        weights = self.weights_std * self.eps
        if weights.dim() == 2:
            return self.latent @ weights
        return torch.bmm(self.latent.unsqueeze(1), weights).squeeze(1)

    def sample(self) -> Tensor:
        """``(batch, action_dim)`` unbounded actions ``mean + noise`` (differentiable)."""
        return self.mean + self.noise()

    def mode(self) -> Tensor:
        """``(batch, action_dim)`` the mean."""
        return self.mean

    def log_prob(self, actions: Tensor) -> Tensor:
        """``(batch,)`` log-density of ``actions`` (``(batch, action_dim)``)."""
        return self.gaussian.log_prob(actions)

    def entropy(self) -> Tensor:
        """``(batch,)`` differential entropy in nats (state-dependent)."""
        return self.gaussian.entropy()


class SquashedStateDependentGaussian(SquashedDiagGaussian):
    """``tanh(u)`` with ``u`` from a :class:`StateDependentGaussian`: gSDE for SAC, actions in
    ``(-1, 1)``, log-probabilities corrected for the tanh as :class:`SquashedDiagGaussian`'s.

    Args:
        mean, latent, std, eps: as :class:`StateDependentGaussian`'s.
    """

    def __init__(self, mean: Tensor, latent: Tensor, std: Tensor, eps: Tensor | None) -> None:
        self.gaussian = StateDependentGaussian(mean, latent, std, eps)
