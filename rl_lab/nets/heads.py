"""Output heads: Q-values per discrete action, and policy heads returning action distributions.

Every head exposes :meth:`output_layers`, the layers that produce its output, so initialisation
can give them their own gain (see :func:`rl_lab.nets.init.init_output_layers`).
"""

import torch
from torch import Tensor, nn

from rl_lab.nets.distributions import (
    Categorical,
    DiagGaussian,
    MultiCategorical,
    SquashedDiagGaussian,
    SquashedStateDependentGaussian,
    StateDependentGaussian,
)


class QHead(nn.Module):
    """One Linear layer from features to action values: ``Q(s, ·) = W f + b``.

    Args:
        in_features: size of the encoder's feature vector.
        n_actions: number of discrete actions.
    """

    def __init__(self, in_features: int, n_actions: int) -> None:
        super().__init__()
        self.q = nn.Linear(in_features, n_actions)
        self.n_actions = n_actions

    def forward(self, features: Tensor) -> Tensor:
        """Map ``(batch, in_features)`` features to ``(batch, n_actions)`` Q-values."""
        return self.q(features)

    def output_layers(self) -> list[nn.Module]:
        """The layers whose outputs are the head's outputs (here the single Linear)."""
        return [self.q]


def _stream(in_features: int, out_features: int, hidden: int | None) -> nn.Sequential:
    if hidden is None:
        return nn.Sequential(nn.Linear(in_features, out_features))
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, out_features))


class DuelingQHead(nn.Module):
    """Dueling head (Wang et al. 2016, https://arxiv.org/abs/1511.06581).

    A value stream ``V(s)`` and an advantage stream ``A(s, a)`` combined as
    ``Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a')``. Subtracting the mean makes the split
    identifiable: the mean over actions of ``Q - V`` is zero.

    Args:
        in_features: size of the encoder's feature vector.
        n_actions: number of discrete actions.
        hidden: if set, each stream gets its own hidden Linear layer of this width, with ReLU.
    """

    def __init__(self, in_features: int, n_actions: int, hidden: int | None = None) -> None:
        super().__init__()
        self.value = _stream(in_features, 1, hidden)
        self.advantage = _stream(in_features, n_actions, hidden)
        self.n_actions = n_actions

    def forward(self, features: Tensor) -> Tensor:
        """Map ``(batch, in_features)`` features to ``(batch, n_actions)`` Q-values."""
        value = self.value(features)  # (batch, 1)
        advantage = self.advantage(features)  # (batch, n_actions)
        return value + advantage - advantage.mean(dim=-1, keepdim=True)

    def output_layers(self) -> list[nn.Module]:
        """The last Linear of the value stream and of the advantage stream."""
        return [self.value[-1], self.advantage[-1]]


class CategoricalHead(nn.Module):
    """Policy head for discrete actions: one Linear layer to logits, a categorical distribution.

    Args:
        in_features: size of the feature vector.
        n_actions: number of discrete actions.
    """

    def __init__(self, in_features: int, n_actions: int) -> None:
        super().__init__()
        self.logits = nn.Linear(in_features, n_actions)

    def forward(self, features: Tensor) -> Categorical:
        """The action distribution for ``(batch, in_features)`` features."""
        return Categorical(self.logits(features))

    def output_layers(self) -> list[nn.Module]:
        """The logits layer."""
        return [self.logits]


class MultiCategoricalHead(nn.Module):
    """Policy head for ``MultiDiscrete`` actions: one Linear layer to the logits of every
    dimension, independent categoricals.

    Args:
        in_features: size of the feature vector.
        nvec: the number of choices of each action dimension.
    """

    def __init__(self, in_features: int, nvec: list[int]) -> None:
        super().__init__()
        self.nvec = [int(n) for n in nvec]
        self.logits = nn.Linear(in_features, sum(self.nvec))

    def forward(self, features: Tensor) -> MultiCategorical:
        """The action distribution for ``(batch, in_features)`` features."""
        return MultiCategorical(self.logits(features), self.nvec)

    def output_layers(self) -> list[nn.Module]:
        """The logits layer."""
        return [self.logits]


class GaussianHead(nn.Module):
    """Policy head for continuous actions: a Linear mean and a state-independent log-std.

    The log standard deviation is a learned parameter per action dimension, not a function of
    the features (as in Schulman et al. 2017 and Stable-Baselines3's default).

    Args:
        in_features: size of the feature vector.
        action_dim: number of action dimensions.
        log_std_init: initial log standard deviation (0.0: std 1).
    """

    def __init__(self, in_features: int, action_dim: int, log_std_init: float = 0.0) -> None:
        super().__init__()
        self.mean = nn.Linear(in_features, action_dim)
        self.log_std = nn.Parameter(torch.full((action_dim,), float(log_std_init)))

    def forward(self, features: Tensor) -> DiagGaussian:
        """The action distribution for ``(batch, in_features)`` features."""
        return DiagGaussian(self.mean(features), self.log_std)

    def output_layers(self) -> list[nn.Module]:
        """The mean layer (the log-std keeps its initial value)."""
        return [self.mean]


class SquashedGaussianHead(nn.Module):
    """Policy head for bounded continuous actions (SAC): ``tanh`` of a Gaussian whose mean and
    log-std are both Linear functions of the features (Haarnoja et al. 2018).

    The log-std is clamped to ``[log_std_min, log_std_max]`` (Stable-Baselines3's -20 and 2),
    so the policy can neither collapse to a point nor become flat.

    Args:
        in_features: size of the feature vector.
        action_dim: number of action dimensions.
        log_std_min, log_std_max: bounds of the log standard deviation.
    """

    def __init__(
        self,
        in_features: int,
        action_dim: int,
        log_std_min: float = -20.0,
        log_std_max: float = 2.0,
    ) -> None:
        super().__init__()
        self.mean = nn.Linear(in_features, action_dim)
        self.log_std = nn.Linear(in_features, action_dim)
        self.log_std_min, self.log_std_max = log_std_min, log_std_max

    def forward(self, features: Tensor) -> SquashedDiagGaussian:
        """The action distribution for ``(batch, in_features)`` features; actions in (-1, 1)."""
        log_std = self.log_std(features).clamp(self.log_std_min, self.log_std_max)
        return SquashedDiagGaussian(self.mean(features), log_std)

    def mean_action(self, features: Tensor) -> Tensor:
        """The Gaussian's mean before the squashing, ``(batch, action_dim)``."""
        return self.mean(features)

    def output_layers(self) -> list[nn.Module]:
        """The mean and log-std layers."""
        return [self.mean, self.log_std]


class StateDependentNoiseHead(nn.Module):
    """Policy head for continuous actions with gSDE exploration (Raffin et al. 2022,
    https://arxiv.org/abs/2005.05719; SB3's ``use_sde=True``): a Linear mean and a learned
    ``(in_features, action_dim)`` matrix of log standard deviations of the exploration weights
    ``W``; the noise is ``features @ W`` (:class:`~rl_lab.nets.StateDependentGaussian`).

    The head holds the current standard-normal draws of ``W`` in :attr:`eps` (set by the agent,
    which decides when to draw anew; ``None`` until then). The distribution it returns samples
    with them.

    Args:
        in_features: size of the feature vector (the noise's latent).
        action_dim: number of action dimensions.
        log_std_init: initial log standard deviation of every entry of ``W``.
        squash: ``tanh`` of the Gaussian (SAC), actions in ``(-1, 1)``.
        learn_features: let the exploration noise's gradient reach the features (SAC: true);
            false detaches them, so only the mean trains the trunk (PPO/A2C, as SB3).
        clip_mean: with ``squash``, clamp the mean to ``[-clip_mean, clip_mean]`` before the
            tanh (SB3's SAC: 2.0) so it cannot saturate; 0 is off.
    """

    def __init__(
        self,
        in_features: int,
        action_dim: int,
        log_std_init: float = -2.0,
        squash: bool = False,
        learn_features: bool = False,
        clip_mean: float = 0.0,
    ) -> None:
        super().__init__()
        self.mean = nn.Linear(in_features, action_dim)
        self.log_std = nn.Parameter(torch.full((in_features, action_dim), float(log_std_init)))
        self.squash, self.learn_features, self.clip_mean = squash, learn_features, clip_mean
        self.eps: Tensor | None = None

    def noise_shape(self, n: int) -> tuple[int, int, int]:
        """The shape of :attr:`eps` for ``n`` envs, one matrix each."""
        return (n, *self.log_std.shape)

    def mean_action(self, features: Tensor) -> Tensor:
        """The Gaussian's mean (before any squashing), ``(batch, action_dim)``."""
        mean = self.mean(features)
        return mean.clamp(-self.clip_mean, self.clip_mean) if self.clip_mean > 0 else mean

    def forward(
        self, features: Tensor, eps: Tensor | None = None
    ) -> StateDependentGaussian | SquashedStateDependentGaussian:
        """The action distribution for ``(batch, in_features)`` features, sampling with
        ``eps`` (default: :attr:`eps`)."""
        latent = features if self.learn_features else features.detach()
        cls = SquashedStateDependentGaussian if self.squash else StateDependentGaussian
        return cls(
            self.mean_action(features), latent, self.log_std.exp(), self.eps if eps is None else eps
        )

    def output_layers(self) -> list[nn.Module]:
        """The mean layer (the log-stds keep their initial value)."""
        return [self.mean]
