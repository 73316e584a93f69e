"""Action distributions of policy heads: categorical (discrete) and diagonal Gaussian (continuous).

Small hand-written classes rather than ``torch.distributions``: a policy builds one per env step,
and these skip argument validation and broadcasting bookkeeping, which dominate the cost for
small networks on a CPU. The tests check every method against ``torch.distributions``.

Both expose ``sample()``, ``mode()`` (the greedy action), ``log_prob(actions)`` and
``entropy()``; log-probabilities and entropies are per sample, shape ``(batch,)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


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
