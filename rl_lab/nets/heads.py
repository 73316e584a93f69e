"""Output heads: map encoder features to one value per discrete action.

Every head exposes :meth:`output_layers`, the layers that produce its output, so initialisation
can give them their own gain (see :func:`rl_lab.nets.init.init_output_layers`).
"""

from torch import Tensor, nn


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
