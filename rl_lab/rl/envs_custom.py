"""Environments rl_lab registers with gymnasium itself (``register_custom_envs``).

``CartPoleNoVel-v1``: CartPole-v1 whose observation keeps only the cart position and the pole
angle, dropping both velocities. A memoryless policy cannot tell which way the pole is moving,
so the task needs a recurrent policy (or frame stacking); it is the standard partially observed
test of recurrent PPO (RL Zoo's ``CartPoleNoVel-v1``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

#: Indices of CartPole's observation that ``CartPoleNoVel-v1`` keeps: cart position, pole angle.
CARTPOLE_POSITIONS = [0, 2]


class CartPoleNoVelocity(gym.ObservationWrapper):
    """CartPole with the velocity entries (indices 1 and 3) removed: observations ``(2,)``."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.observation_space
        assert isinstance(space, gym.spaces.Box)  # CartPole observes a Box of 4 floats
        self.observation_space = gym.spaces.Box(
            low=space.low[CARTPOLE_POSITIONS],
            high=space.high[CARTPOLE_POSITIONS],
            dtype=space.dtype,
        )

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """Keep the cart position and the pole angle."""
        return observation[CARTPOLE_POSITIONS]


def make_cartpole_no_velocity(**kwargs: Any) -> gym.Env:
    """Entry point of ``CartPoleNoVel-v1`` (``kwargs`` go to ``CartPoleEnv``, e.g. render_mode)."""
    return CartPoleNoVelocity(CartPoleEnv(**kwargs))


def register_custom_envs() -> None:
    """Register rl_lab's environments with gymnasium (idempotent).

    The entry point is a string, so async vector envs can build the env in a fresh process.
    """
    if "CartPoleNoVel-v1" not in gym.registry:
        gym.register(
            id="CartPoleNoVel-v1",
            entry_point="rl_lab.rl.envs_custom:make_cartpole_no_velocity",
            max_episode_steps=500,
            reward_threshold=475.0,
        )
