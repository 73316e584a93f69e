"""Stable-Baselines3 counterparts of rl_lab's agents, run through the same app and protocol."""
