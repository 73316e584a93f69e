"""One contiguous tensor for all of a module's parameters (and one for their gradients).

Small networks on a CPU are dominated by per-tensor overhead: zeroing, clipping and an Adam
step each launch one kernel per parameter tensor. With the parameters re-pointed as views into a
single flat tensor, these become one kernel each, and the optimizer sees a single parameter.
The module itself is unchanged: ``state_dict``/``load_state_dict`` and forward passes work as
before.
"""

from __future__ import annotations

import torch
from torch import nn


class FlatParameters:
    """Re-point ``module``'s trainable parameters and their gradients into two flat tensors.

    Create it after the module is on its final device (``.to()`` would make new tensors and
    break the views) and after any ``copy.deepcopy`` of the module (e.g. a target network).

    Attributes:
        param: the flat ``nn.Parameter`` to give to the optimizer; ``param.grad`` is the flat
            gradient, which ``backward()`` accumulates into through the per-layer views.
    """

    def __init__(self, module: nn.Module) -> None:
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise ValueError("the module has no trainable parameters")
        total = sum(p.numel() for p in params)
        first = params[0]
        self.param = nn.Parameter(torch.empty(total, dtype=first.dtype, device=first.device))
        self.param.grad = torch.zeros_like(self.param)
        offset = 0
        for p in params:
            n = p.numel()
            self.param.data[offset : offset + n].copy_(p.data.reshape(-1))
            p.data = self.param.data[offset : offset + n].view_as(p)
            p.grad = self.param.grad[offset : offset + n].view_as(p)
            offset += n

    def zero_grad(self) -> None:
        """Zero the gradients in place (never set them to None: that would break the views)."""
        self.param.grad.zero_()

    def clip_grad_norm_(self, max_norm: float) -> torch.Tensor:
        """Scale gradients so their global L2 norm is at most ``max_norm``; returns the norm.

        Same rule as ``torch.nn.utils.clip_grad_norm_``, without a device sync.
        """
        grad = self.param.grad
        norm = torch.linalg.vector_norm(grad)
        grad.mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))
        return norm
