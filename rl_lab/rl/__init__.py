"""Reinforcement learning: environments, replay buffer, agents, the off-policy loop, evaluation."""
