"""One contiguous tensor for all of a module's parameters (and one for their gradients).

Small networks on a CPU are dominated by per-tensor overhead: zeroing, clipping and an Adam
step each launch one kernel per parameter tensor. With the parameters re-pointed as views into a
single flat tensor, these become one kernel each, and the optimizer sees a single parameter.
The module itself is unchanged: ``state_dict``/``load_state_dict`` and forward passes work as
before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn


class FlatParameters:
    """Re-point ``module``'s trainable parameters and their gradients into two flat tensors.

    Create it after the module is on its final device (``.to()`` would make new tensors and
    break the views) and after any ``copy.deepcopy`` of the module (e.g. a target network).

    Attributes:
        param: the flat ``nn.Parameter`` to give to the optimizer; ``param.grad`` is the flat
            gradient, which ``backward()`` accumulates into through the per-layer views.
        params: the module's trainable parameters in order (views into ``param``), e.g. for
            ``torch.autograd.grad(loss, flat.params)`` and :meth:`FlatAdam.step_from`.
    """

    def __init__(self, module: nn.Module) -> None:
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise ValueError("the module has no trainable parameters")
        total = sum(p.numel() for p in params)
        first = params[0]
        self.param = nn.Parameter(torch.empty(total, dtype=first.dtype, device=first.device))
        self.param.grad = grad = torch.zeros_like(self.param)
        offset = 0
        for p in params:
            n = p.numel()
            self.param.data[offset : offset + n].copy_(p.data.reshape(-1))
            p.data = self.param.data[offset : offset + n].view_as(p)
            p.grad = grad[offset : offset + n].view_as(p)
            offset += n
        self.params = params  # the module's parameters, views into ``param``

    def views(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """``flat`` (shaped like ``param``) cut into one view per parameter, shaped like it."""
        pieces = flat.split([p.numel() for p in self.params])
        return [piece.view_as(p) for piece, p in zip(pieces, self.params, strict=True)]

    def zero_grad(self) -> None:
        """Zero the gradients in place (never set them to None: that would break the views)."""
        grad = self.param.grad
        assert grad is not None  # set in __init__, and never reset to None
        grad.zero_()

    def clip_grad_norm_(self, max_norm: float) -> torch.Tensor:
        """Scale gradients so their global L2 norm is at most ``max_norm``; returns the norm.

        Same rule as ``torch.nn.utils.clip_grad_norm_``, without a device sync.
        """
        grad = self.param.grad
        assert grad is not None  # set in __init__, and never reset to None
        norm = torch.linalg.vector_norm(grad)
        grad.mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))
        return norm


class _FlatOptimizer:
    """What the flat optimizers share: the flat parameter, the learning rate in
    ``param_groups[0]["lr"]`` (set by learning-rate schedules), a step count (a 0-d float32
    tensor) and the buffers named in ``BUFFERS`` (shaped like the parameter), which
    ``state_dict``/``load_state_dict`` save and restore for checkpoints."""

    BUFFERS: tuple[str, ...] = ()

    def __init__(self, flat: FlatParameters, lr: float) -> None:
        self.param = flat.param
        self.param_groups = [{"lr": lr}]
        self.step_count = torch.zeros((), dtype=torch.float32, device=self.param.device)
        for name in self.BUFFERS:
            setattr(self, name, torch.zeros_like(self.param))

    def state_dict(self) -> dict[str, Any]:
        """The buffers by name, ``step`` and ``lr`` (checkpoint-safe)."""
        return {
            **{name: getattr(self, name) for name in self.BUFFERS},
            "step": self.step_count,
            "lr": self.param_groups[0]["lr"],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved, or what the matching ``torch.optim``
        optimizer on the same single flat parameter saved (checkpoints written before this
        class ran)."""
        state = _from_torch_optim(state, self.BUFFERS)
        for name in self.BUFFERS:
            getattr(self, name).copy_(state[name])
        self.step_count.copy_(state["step"])
        self.param_groups[0]["lr"] = float(state["lr"])


class FlatAdam(_FlatOptimizer):
    """Adam (Kingma & Ba 2015) on the single tensor of a :class:`FlatParameters`.

    It runs the very kernel ``torch.optim.Adam(fused=True)`` runs, with the same inputs, so the
    updates are bit-identical; what it skips is ``torch.optim.Optimizer``'s per-call bookkeeping,
    which for one small flat tensor costs several times the kernel itself (measured here:
    about 120 µs against 40 µs per step on one CPU thread). Exposes ``param_groups[0]["lr"]``
    for learning-rate schedules, and ``state_dict``/``load_state_dict`` for checkpoints.

    Args:
        flat: the parameters to optimise.
        lr: step size.
        betas: decay rates of the first and second moment estimates.
        eps: added to the denominator for numerical stability.
    """

    BUFFERS = ("exp_avg", "exp_avg_sq")
    exp_avg: torch.Tensor
    exp_avg_sq: torch.Tensor

    def __init__(
        self,
        flat: FlatParameters,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        super().__init__(flat, lr)
        self.betas, self.eps = betas, eps
        # per-parameter views, for steps from a list of gradients (:meth:`step_from`)
        self._param_views = flat.views(self.param.data)
        self._exp_avg_views = flat.views(self.exp_avg)
        self._exp_avg_sq_views = flat.views(self.exp_avg_sq)

    def step(self) -> None:
        """One Adam update of ``param`` from ``param.grad``."""
        grad = self.param.grad
        assert grad is not None  # FlatParameters sets it, and never resets it to None
        self._fused_step([self.param.data], [grad], [self.exp_avg], [self.exp_avg_sq])

    def step_from(self, grads: Sequence[torch.Tensor], max_grad_norm: float) -> torch.Tensor:
        """One Adam update from per-parameter gradients, clipped to ``max_grad_norm``.

        ``grads`` are fresh gradients, one per parameter in module order, as
        ``torch.autograd.grad(loss, flat.params)`` returns them. Taking them directly skips
        what ``backward()`` costs on top: zeroing the flat gradient and adding each new
        gradient into it (two passes over every parameter, a few percent of a Nature CNN
        update). The clipping factor of ``torch.nn.utils.clip_grad_norm_`` is applied inside
        the fused kernel (as its gradient scale), not in a pass of its own.

        Returns:
            The global L2 norm of ``grads`` before clipping.
        """
        grads = list(grads)
        norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
        # the kernel divides each gradient by grad_scale: 1 / clip_grad_norm_'s factor
        grad_scale = torch.clamp((norm + 1e-6) / max_grad_norm, min=1.0)
        self._fused_step(
            self._param_views, grads, self._exp_avg_views, self._exp_avg_sq_views, grad_scale
        )
        return norm

    def _fused_step(
        self,
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        exp_avgs: list[torch.Tensor],
        exp_avg_sqs: list[torch.Tensor],
        grad_scale: torch.Tensor | None = None,
    ) -> None:
        """Count the step and run the fused Adam kernel on matching lists of tensors."""
        self.step_count += 1
        torch._fused_adam_(
            params,
            grads,
            exp_avgs,
            exp_avg_sqs,
            [],
            [self.step_count] * len(params),
            amsgrad=False,
            lr=self.param_groups[0]["lr"],
            beta1=self.betas[0],
            beta2=self.betas[1],
            weight_decay=0.0,
            eps=self.eps,
            maximize=False,
            grad_scale=grad_scale,
        )


def _from_torch_optim(state: Mapping[str, Any], buffers: Sequence[str]) -> Mapping[str, Any]:
    """A flat optimizer's state from a ``torch.optim`` optimizer's ``state_dict`` over one
    parameter (``{"state": {0: {...}}, "param_groups": [{"lr": ...}]}``); a flat state as
    it is. An optimizer that has not stepped yet has no buffers: zeros."""
    if "param_groups" not in state:
        return state
    (group,) = state["param_groups"]
    per_param = state["state"].get(0) or state["state"].get("0")
    if per_param is None:  # never stepped
        return {"lr": group["lr"], "step": torch.zeros(()), **{b: 0.0 for b in buffers}}
    return {"lr": group["lr"], "step": per_param["step"], **{b: per_param[b] for b in buffers}}


class FlatRMSprop(_FlatOptimizer):
    """RMSprop (Tieleman & Hinton 2012; ``torch.optim.RMSprop`` without momentum, centring or
    weight decay) on the single tensor of a :class:`FlatParameters`.

    It runs the operations ``torch.optim.RMSprop`` runs on a CPU tensor, in the same order,
    so the updates are bit-identical; what it skips is ``torch.optim.Optimizer`` itself, whose
    first construction imports ``torch._dynamo`` (about as long as importing torch). The same
    interface as :class:`FlatAdam`.

    Args:
        flat: the parameters to optimise.
        lr: step size.
        alpha: smoothing of the squared-gradient average.
        eps: added to the denominator's square root.
    """

    BUFFERS = ("square_avg",)
    square_avg: torch.Tensor

    def __init__(self, flat: FlatParameters, lr: float, alpha: float = 0.99, eps: float = 1e-8):
        super().__init__(flat, lr)
        self.alpha, self.eps = alpha, eps

    @torch.no_grad()
    def step(self) -> None:
        """One RMSprop update of ``param`` from ``param.grad``."""
        grad = self.param.grad
        assert grad is not None  # FlatParameters sets it, and never resets it to None
        self.step_count += 1
        self.square_avg.mul_(self.alpha).addcmul_(grad, grad, value=1 - self.alpha)
        avg = self.square_avg.sqrt().add_(self.eps)
        self.param.addcdiv_(grad, avg, value=-self.param_groups[0]["lr"])
