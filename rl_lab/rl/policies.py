"""Actor-critic policies built from the network zoo, feed-forward or recurrent.

A policy is one or two *trunks* (zoo encoder, then optionally a zoo :class:`LSTMCore`), a policy
head (:class:`CategoricalHead` for ``Discrete`` actions, :class:`MultiCategoricalHead` for
``MultiDiscrete`` ones, :class:`GaussianHead` with a state-independent log-std for ``Box``
actions, or :class:`StateDependentNoiseHead` for gSDE exploration) and a Linear value head::

    shared=false:  obs ─ encoder ─ [LSTM] ─ policy head → action distribution
                   obs ─ encoder ─ [LSTM] ─ value head  → V(s)
    shared=true:   obs ─ encoder ─ [LSTM] ─┬ policy head
                                           └ value head

Initialisation follows Stable-Baselines3: orthogonal weights with gain sqrt(2) in the trunks,
0.01 for the policy head (a near-uniform initial policy) and 1 for the value head; zero biases.
LSTM layers keep torch's initialisation.

The recurrent state of all LSTM cores travels as one tensor of shape
``(n_cores, 2, num_layers, n_envs, hidden_size)`` (``n_cores`` = number of trunks, ``2`` = h
and c), so a loop can store, slice by env (``state[..., envs, :]``) and checkpoint it without
knowing the layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import gymnasium as gym
import torch
from torch import Tensor, nn

from rl_lab.nets import LSTMCore, build_encoder, init_output_layers, init_weights
from rl_lab.nets.distributions import (
    Categorical,
    DiagGaussian,
    MultiCategorical,
    SquashedDiagGaussian,
    StateDependentGaussian,
)
from rl_lab.nets.heads import (
    CategoricalHead,
    GaussianHead,
    MultiCategoricalHead,
    StateDependentNoiseHead,
)

Distribution = (
    Categorical | MultiCategorical | DiagGaussian | StateDependentGaussian | SquashedDiagGaussian
)


class Trunk(nn.Module):
    """Zoo encoder followed by an optional LSTM core.

    Args:
        encoder: maps ``(batch, *obs_shape)`` to ``(batch, features)``; has ``out_features``.
        lstm: an :class:`LSTMCore` on the encoder's features, or ``None``.
    """

    def __init__(self, encoder: nn.Module, lstm: LSTMCore | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.lstm = lstm
        # torch types module attributes as Tensor | Module; zoo encoders set out_features to an int
        self.out_features: int = (
            lstm.out_features if lstm is not None else cast(int, encoder.out_features)
        )


class ActorCriticPolicy(nn.Module):
    """Policy and value function for one observation and action space.

    Args:
        observation_space: the env's (single) observation space.
        action_space: ``Discrete``, a 1-D ``MultiDiscrete`` or a 1-D ``Box``.
        encoder: zoo encoder spec, e.g. ``{"type": "mlp", "hidden_sizes": [64, 64],
            "activation": "tanh"}`` (see :func:`rl_lab.nets.build_encoder`).
        shared: one trunk for actor and critic (true) or one each (false).
        lstm: ``{"hidden_size": 64, "num_layers": 1}`` for a recurrent policy, or ``None``.
        init: weight init scheme (``orthogonal`` uses SB3's gains; ``default`` keeps torch's).
        log_std_init: initial log standard deviation of Gaussian policies (with ``use_sde``,
            of every exploration weight).
        use_sde: gSDE exploration for ``Box`` actions (:class:`StateDependentNoiseHead` on the
            actor's features, which its noise does not train, as in SB3).
        squash_output: with ``use_sde``, ``tanh`` of the gSDE Gaussian: actions in ``(-1, 1)``
            (the agent scales them to the bounds), log-probabilities corrected for the tanh.
        mixed_precision: run the encoders in bfloat16 autocast (CUDA); the LSTM cores and the
            heads get float32 features, so distributions and values stay float32.

    Raises:
        ValueError: another action space, or a bad encoder.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        encoder: Mapping[str, Any],
        shared: bool = False,
        lstm: Mapping[str, Any] | None = None,
        init: str = "orthogonal",
        log_std_init: float = 0.0,
        use_sde: bool = False,
        squash_output: bool = False,
        mixed_precision: bool = False,
    ) -> None:
        super().__init__()
        if squash_output and not use_sde:
            raise ValueError("squash_output squashes gSDE's actions; it needs use_sde")
        # encode_observations gives the policies Box observations, which always have a shape
        assert observation_space.shape is not None
        self.obs_shape = tuple(observation_space.shape)
        self.mixed_precision = mixed_precision
        self.recurrent = lstm is not None

        def trunk() -> Trunk:
            enc = build_encoder(encoder, self.obs_shape)
            enc_features = cast(int, enc.out_features)  # zoo encoders set out_features to an int
            core = LSTMCore(enc_features, **dict(lstm)) if lstm is not None else None
            return Trunk(enc, core)

        trunks = [trunk()] if shared else [trunk(), trunk()]
        self.trunks = nn.ModuleList(trunks)
        features = trunks[0].out_features
        if isinstance(action_space, gym.spaces.Discrete):
            self.action_head: nn.Module = CategoricalHead(features, int(action_space.n))
        elif isinstance(action_space, gym.spaces.MultiDiscrete) and action_space.nvec.ndim == 1:
            self.action_head = MultiCategoricalHead(features, action_space.nvec.tolist())
        elif isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
            if use_sde:
                self.action_head = StateDependentNoiseHead(
                    features, action_space.shape[0], log_std_init, squash=squash_output
                )
            else:
                self.action_head = GaussianHead(features, action_space.shape[0], log_std_init)
        else:
            raise ValueError(
                f"actor-critic policies support Discrete, 1-D MultiDiscrete and 1-D Box action "
                f"spaces, not "
                f"{action_space}"
            )
        if use_sde and not isinstance(self.action_head, StateDependentNoiseHead):
            raise ValueError(
                f"use_sde (gSDE) explores continuous actions; {action_space} is not a 1-D Box"
            )
        self.value_head = nn.Linear(features, 1)
        if init != "default":
            for t in trunks:
                init_weights(t.encoder, init)  # orthogonal: gain sqrt(2)
            init_weights(self.action_head, init)
            init_output_layers(self.action_head, init, gain=0.01)
            init_weights(self.value_head, init, gain=1.0)

    def _trunk(self, index: int) -> Trunk:
        """Trunk ``index``: 0 is the actor's (or the shared one), 1 the critic's."""
        return cast(Trunk, self.trunks[index])  # the ModuleList holds only Trunks

    # ----------------------------------------------------------------------------- state
    def initial_state(self, n_envs: int) -> Tensor | None:
        """Zero recurrent state ``(n_cores, 2, num_layers, n_envs, hidden)``; ``None`` if MLP."""
        if not self.recurrent:
            return None
        lstm = self._trunk(0).lstm
        assert lstm is not None  # a recurrent policy gives every trunk an LSTM core
        h, _ = lstm.initial_state(n_envs)
        return h.new_zeros((len(self.trunks), 2, *h.shape))

    # ----------------------------------------------------------------------------- forward
    def _features(
        self, index: int, obs: Tensor, state: Tensor | None, starts: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        """Trunk ``index`` on ``obs``: ``((N, features), new (h, c) stacked or None)``.

        ``obs`` is ``(B, *obs_shape)`` (one step of ``B`` envs) or, for recurrent policies,
        ``(T, B, *obs_shape)`` (sequences, flattened time-major in the output).
        """
        trunk = self._trunk(index)
        if trunk.lstm is None:
            return self._encode(trunk, obs), None
        sequence = obs.dim() == len(self.obs_shape) + 2
        x = self._encode(trunk, obs.reshape(-1, *self.obs_shape))  # (T*B or B, F)
        if sequence:
            x = x.view(obs.shape[0], obs.shape[1], -1)  # (T, B, F)
        if state is None:
            state = self.initial_state(x.shape[-2])
            assert state is not None  # this trunk has an LSTM core, so the policy is recurrent
        out, (h, c) = trunk.lstm(x, (state[index, 0], state[index, 1]), starts)
        return out.reshape(-1, out.shape[-1]), torch.stack((h, c))

    def _encode(self, trunk: Trunk, obs: Tensor) -> Tensor:
        """``trunk.encoder(obs)``, in bfloat16 autocast with ``mixed_precision``; float32 out."""
        if not self.mixed_precision:
            return trunk.encoder(obs)
        with torch.autocast(obs.device.type, dtype=torch.bfloat16):
            return trunk.encoder(obs).float()

    def forward(
        self, obs: Tensor, state: Tensor | None = None, episode_starts: Tensor | None = None
    ) -> tuple[Distribution, Tensor, Tensor | None]:
        """Action distribution, values ``(N,)`` and the recurrent state after ``obs``.

        Args:
            obs: ``(B, *obs_shape)``, or ``(T, B, *obs_shape)`` sequences (recurrent only).
            state: recurrent state before ``obs`` (``None``: zeros); ignored by MLP policies.
            episode_starts: ``(B,)`` or ``(T, B)``: where true the state is reset first.
        """
        actor, actor_state = self._features(0, obs, state, episode_starts)
        if len(self.trunks) == 1:
            critic = actor
            new_state = None if actor_state is None else actor_state.unsqueeze(0)
        else:
            critic, critic_state = self._features(1, obs, state, episode_starts)
            # both trunks have an LSTM core or neither has
            new_state = (
                None
                if actor_state is None or critic_state is None
                else torch.stack((actor_state, critic_state))
            )
        return self.action_head(actor), self.value_head(critic).squeeze(-1), new_state

    def action_distribution(self, obs: Tensor) -> Distribution:
        """The action distribution of a feed-forward policy at ``obs`` ``(B, *obs_shape)``,
        running only the actor's trunk (greedy play needs no values)."""
        assert not self.recurrent, "recurrent policies act through forward (they carry state)"
        actor, _ = self._features(0, obs, None, None)
        return self.action_head(actor)

    def value(
        self, obs: Tensor, state: Tensor | None = None, episode_starts: Tensor | None = None
    ) -> Tensor:
        """``V(obs)``, shape ``(N,)``, running only the critic's trunk."""
        critic, _ = self._features(len(self.trunks) - 1, obs, state, episode_starts)
        return self.value_head(critic).squeeze(-1)

    def evaluate_actions(
        self,
        obs: Tensor,
        actions: Tensor,
        state: Tensor | None = None,
        episode_starts: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Log-probabilities of ``actions``, entropies and values, each ``(N,)``.

        For sequences ``(T, B, *obs_shape)``, ``actions`` are flattened time-major
        ``(T * B, ...)`` and ``state`` is the state before the first step.
        """
        dist, values, _ = self(obs, state, episode_starts)
        log_probs = dist.log_prob(actions)
        if isinstance(dist, SquashedDiagGaussian):
            # no closed form for a squashed Gaussian: -log pi(a|s) of the taken actions is an
            # unbiased estimate of its entropy (SB3's rule)
            return log_probs, -log_probs, values
        return log_probs, dist.entropy(), values

    @property
    def log_std(self) -> Tensor | None:
        """The Gaussian head's log standard deviations, or ``None`` for discrete actions."""
        return getattr(self.action_head, "log_std", None)
