"""Fully connected encoder: the multilayer perceptron used for vector observations."""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rl_lab.nets.activations import make_activation

#: Normalisation name → class built as ``cls(num_features)``; ``None`` means no normalisation.
NORMS: dict[str, type[nn.Module]] = {
    "layer": nn.LayerNorm,
    "batch": nn.BatchNorm1d,
}


class MLP(nn.Module):
    """Stack of ``Linear → [norm] → activation → [Dropout]`` hidden layers.

    The input is flattened after the batch dimension, so a ``(batch, 8, 8)`` image works as well
    as a ``(batch, 64)`` vector.

    Args:
        in_features: number of input features after flattening (``prod`` of the observation
            shape).
        hidden_sizes: width of each hidden layer, first to last. Empty means no layers: the
            network only flattens its input.
        activation: name from :data:`rl_lab.nets.activations.ACTIVATIONS`.
        norm: ``"layer"`` (LayerNorm), ``"batch"`` (BatchNorm1d; needs batch > 1 in training
            mode) or ``None``.
        dropout: drop probability in ``[0, 1)`` after each activation; ``0`` adds no Dropout.

    Attributes:
        out_features: size of the output's last dimension: the last hidden size, or
            ``in_features`` when ``hidden_sizes`` is empty.
    """

    def __init__(
        self,
        in_features: int,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "relu",
        norm: str | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if in_features < 1:
            raise ValueError(f"MLP in_features must be >= 1, got {in_features}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MLP dropout must be in [0, 1), got {dropout}")
        if norm is not None and norm not in NORMS:
            valid = ", ".join(sorted(NORMS))
            raise ValueError(f"unknown norm {norm!r}; valid names: {valid} (or None)")

        layers: list[nn.Module] = []
        width = in_features
        for size in hidden_sizes:
            layers.append(nn.Linear(width, size))
            if norm is not None:
                layers.append(NORMS[norm](size))
            layers.append(make_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        self.layers = nn.Sequential(*layers)
        self.in_features = in_features
        self.out_features = width

    def forward(self, x: Tensor) -> Tensor:
        """Encode a batch.

        Args:
            x: ``(batch, in_features)`` or ``(batch, *dims)`` with ``prod(dims) == in_features``;
                any float dtype.

        Returns:
            ``(batch, out_features)`` features.
        """
        x = torch.flatten(x, start_dim=1)
        if x.shape[1] != self.in_features:
            # Caught here because Linear's own message ("mat1 and mat2 ...") hides which net failed.
            raise ValueError(
                f"MLP expects {self.in_features} features per sample, got {x.shape[1]}"
            )
        return self.layers(x)
