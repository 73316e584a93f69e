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
