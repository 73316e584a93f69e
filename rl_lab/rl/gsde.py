"""When gSDE draws its exploration matrices: the part of generalized State-Dependent Exploration
(Raffin et al. 2022, https://arxiv.org/abs/2005.05719) that belongs to acting, shared by the
actor-critic agents (A2C, PPO, REINFORCE) and SAC.

The noise itself is the policy head's (:class:`~rl_lab.nets.StateDependentNoiseHead`); this
module keeps one matrix of standard-normal draws per env and replaces them when
Stable-Baselines3 does: at the start of every collection phase (a rollout for the on-policy
agents, the steps between two training phases for SAC) and, with ``sde_sample_freq > 0``, every
``sde_sample_freq`` vector steps within a phase.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import Tensor

from rl_lab.nets import StateDependentNoiseHead


class ExplorationMatrices:
    """The exploration matrices of the envs being played, and when to draw new ones.

    Args:
        head: the gSDE head; its ``eps`` is set before every act.
        sample_freq: vector steps between draws within a phase; -1 (or 0): only at the start
            of each phase.
    """

    def __init__(self, head: StateDependentNoiseHead, sample_freq: int) -> None:
        self.head, self.sample_freq = head, sample_freq
        self.steps = 0  # vector steps acted in the current phase
        self.phase_start = True

    def before_act(self, n_envs: int, draw: Callable[[tuple[int, ...]], Tensor]) -> None:
        """Draw new matrices with ``draw(shape)`` (standard normal) when due; count the step."""
        if self.phase_start:
            self.steps, self.phase_start = 0, False
            due = True
        else:
            due = self.sample_freq > 0 and self.steps % self.sample_freq == 0
        if due or self.head.eps is None or self.head.eps.shape[0] != n_envs:
            self.head.eps = draw(self.head.noise_shape(n_envs))
        self.steps += 1

    def end_phase(self) -> None:
        """A training phase ran: the next act starts a new collection phase."""
        self.phase_start = True

    def state_dict(self) -> dict[str, Any]:
        """The current draws and the phase counters, for exact resumption."""
        return {"eps": self.head.eps, "steps": self.steps, "phase_start": self.phase_start}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        eps = state["eps"]
        self.head.eps = None if eps is None else eps.to(self.head.log_std.device)
        self.steps, self.phase_start = int(state["steps"]), bool(state["phase_start"])
