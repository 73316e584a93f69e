"""Recurrent blocks: :class:`LSTMCore`, an LSTM whose hidden state is reset at episode
boundaries (policies), and :class:`LSTMEncoder`, which encodes a whole sequence into its last
output (sequence classifiers)."""

from typing import cast

import torch
from torch import Tensor, nn

#: ``(h, c)``, each ``(num_layers, batch, hidden_size)``.
LSTMState = tuple[Tensor, Tensor]


class LSTMCore(nn.Module):
    """Sequence-major LSTM that zeroes its state where an episode starts.

    A policy's memory must not carry information from one episode into the next: wherever
    ``episode_starts`` is true, the state is set to zeros *before* that step is processed.
    Sequences without resets go through ``nn.LSTM`` in one call; with resets the sequence is cut
    at every step where some environment resets, and each piece is one call.

    The returned state keeps its autograd graph; detach it between updates for truncated
    backpropagation through time.

    Args:
        in_features: size of each input vector.
        hidden_size: size of the hidden and cell state, and of each output vector.
        num_layers: stacked LSTM layers.

    Attributes:
        out_features: ``hidden_size``.
    """

    def __init__(self, in_features: int, hidden_size: int = 64, num_layers: int = 1) -> None:
        super().__init__()
        self.lstm = nn.LSTM(in_features, hidden_size, num_layers=num_layers)
        self.in_features = in_features
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.out_features = hidden_size

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> LSTMState:
        """Zero state for ``batch_size`` parallel sequences.

        Args:
            batch_size: number of parallel sequences (environments).
            device: where to allocate; ``None`` means the device of this module's parameters.

        Returns:
            ``(h, c)``, each zeros of shape ``(num_layers, batch_size, hidden_size)``.
        """
        weight = cast(Tensor, self.lstm.weight_ih_l0)  # a Parameter of nn.LSTM
        device = weight.device if device is None else device
        shape = (self.num_layers, batch_size, self.hidden_size)
        h = torch.zeros(shape, dtype=weight.dtype, device=device)
        return h, torch.zeros_like(h)

    def forward(
        self,
        x: Tensor,
        state: LSTMState | None = None,
        episode_starts: Tensor | None = None,
    ) -> tuple[Tensor, LSTMState]:
        """Run the LSTM over a sequence or a single step.

        Args:
            x: ``(T, B, in_features)`` sequence (time first) or ``(B, in_features)`` single step.
            state: ``(h, c)`` before the first step, each ``(num_layers, B, hidden_size)``;
                ``None`` means zeros.
            episode_starts: ``(T, B)`` (or ``(B,)`` for a single step) bool or 0/1 float; where
                true, the state is reset to zeros before that step.

        Returns:
            ``(out, new_state)``: ``out`` is ``(T, B, hidden_size)``, or ``(B, hidden_size)`` for
            single-step input; ``new_state`` is the state after the last step.
        """
        if x.dim() not in (2, 3):
            raise ValueError(f"LSTMCore expects (T, B, F) or (B, F) input, got {tuple(x.shape)}")
        single_step = x.dim() == 2
        seq = x.unsqueeze(0) if single_step else x  # (T, B, F)
        n_steps, batch = seq.shape[:2]
        if state is None:
            state = self.initial_state(batch, device=seq.device)

        if episode_starts is None:
            out, new_state = self.lstm(seq, state)
        else:
            out, new_state = self._forward_with_resets(seq, state, episode_starts, n_steps, batch)
        return (out.squeeze(0) if single_step else out), new_state

    def _forward_with_resets(
        self, seq: Tensor, state: LSTMState, episode_starts: Tensor, n_steps: int, batch: int
    ) -> tuple[Tensor, LSTMState]:
        if episode_starts.numel() != n_steps * batch:
            raise ValueError(
                f"episode_starts has shape {tuple(episode_starts.shape)}, "
                f"expected ({n_steps}, {batch}) to match the input"
            )
        starts = episode_starts.reshape(n_steps, batch).bool()
        reset_steps = torch.nonzero(starts.any(dim=1)).flatten().tolist()
        # Cut the sequence at each step where any environment resets; each piece is one LSTM call.
        bounds = sorted({0, n_steps, *reset_steps})
        keep = (~starts).to(seq.dtype).unsqueeze(-1)  # (T, B, 1): 0 where the state is reset
        h, c = state
        outs = []
        for begin, end in zip(bounds[:-1], bounds[1:], strict=True):
            h, c = h * keep[begin], c * keep[begin]
            out, (h, c) = self.lstm(seq[begin:end], (h, c))
            outs.append(out)
        return torch.cat(outs, dim=0), (h, c)


class LSTMEncoder(nn.Module):
    """Batch-first LSTM that encodes a whole sequence into its last output.

    For classifying sequences (e.g. an image read row by row): ``(batch, T, in_features)`` →
    ``(batch, out_features)``. The encoding is the last layer's final hidden state, which is the
    output at the last step; bidirectional LSTMs concatenate the forward direction's final state
    (after step T) with the backward direction's (after reading back to step 1).

    Args:
        in_features: size of each step's input vector.
        hidden_size: size of the hidden state per direction.
        num_layers: stacked LSTM layers.
        bidirectional: also read the sequence backwards.
        dropout: dropout between stacked layers (needs ``num_layers > 1``).

    Attributes:
        out_features: ``hidden_size`` (× 2 when bidirectional).
    """

    def __init__(
        self,
        in_features: int,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            in_features,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.in_features = in_features
        self.out_features = hidden_size * (2 if bidirectional else 1)

    def forward(self, x: Tensor) -> Tensor:
        """Encode ``(batch, T, in_features)`` sequences into ``(batch, out_features)``."""
        if x.dim() != 3:
            raise ValueError(f"LSTMEncoder expects (batch, T, F) input, got {tuple(x.shape)}")
        _, (h_n, _) = self.lstm(x)  # h_n: (num_layers * directions, batch, hidden_size)
        if self.lstm.bidirectional:
            return torch.cat((h_n[-2], h_n[-1]), dim=1)
        return h_n[-1]
