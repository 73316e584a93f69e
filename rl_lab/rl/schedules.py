"""Schedules of a value over training progress."""

from __future__ import annotations


def linear_schedule(start: float, end: float, duration: float, t: float) -> float:
    """Linearly interpolate from ``start`` (t=0) to ``end`` (t=duration), constant after.

    Args:
        start, end: values at the beginning and end of the ramp.
        duration: length of the ramp, in the same unit as ``t`` (env steps); <= 0 gives ``end``.
        t: the current time.
    """
    if duration <= 0:
        return end
    fraction = min(max(t / duration, 0.0), 1.0)
    return start + fraction * (end - start)


def linear_decay(value: float, env_step: int, total_steps: int) -> float:
    """``value`` decayed linearly to 0 at ``total_steps`` (SB3's ``lin_<value>`` schedules)."""
    return value * max(1.0 - env_step / total_steps, 0.0)


def scheduled(value: float, schedule: str, env_step: int, total_steps: int) -> float:
    """A hyperparameter under its schedule: ``"constant"`` or ``"linear"`` (decays to 0)."""
    return linear_decay(value, env_step, total_steps) if schedule == "linear" else value
