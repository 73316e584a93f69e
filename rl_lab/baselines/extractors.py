"""Stable-Baselines3 features extractors that rl_lab's actor-critic networks need.

SB3's on-policy ``net_arch`` MLPs (``mlp_extractor``) are never shared between actor and critic
(shared layers were removed in SB3 1.8), and sb3-contrib's recurrent policies put them *after*
the LSTM. rl_lab's encoder comes before the heads (shared or not) and before the LSTM, so it
becomes SB3's features extractor instead, which SB3 can share (``share_features_extractor``) and
which feeds the LSTM. SB3's orthogonal initialisation (gain sqrt(2)) applies to it as to an
``mlp_extractor``.
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import torch
from stable_baselines3.common.preprocessing import get_flattened_obs_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, create_mlp
from torch import nn


class MlpFeatures(BaseFeaturesExtractor):
    """Flatten, then ``Linear → activation`` per hidden size (rl_lab's ``mlp`` encoder).

    Args:
        observation_space: the (single) observation space.
        hidden_sizes: width of each hidden layer; empty only flattens.
        activation_fn: activation class after every hidden layer.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        hidden_sizes: Sequence[int] = (64, 64),
        activation_fn: type[nn.Module] = nn.Tanh,
    ) -> None:
        n_inputs = get_flattened_obs_dim(observation_space)
        features = int(hidden_sizes[-1]) if hidden_sizes else n_inputs
        super().__init__(observation_space, features_dim=features)
        self.net = nn.Sequential(
            nn.Flatten(), *create_mlp(n_inputs, -1, [int(h) for h in hidden_sizes], activation_fn)
        )

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """``(batch, *obs_shape)`` → ``(batch, features_dim)``."""
        return self.net(observations)
