"""Stopping a long run cleanly on Ctrl-C or SIGTERM: every trainer checks the request between
steps, writes its checkpoint and returns, so an interrupted run resumes where it stopped."""

from __future__ import annotations

import contextlib
import signal
from types import FrameType
from typing import Any


class GracefulStop:
    """Turns the first SIGINT/SIGTERM into a request the loop honours at the next step.

    A second signal interrupts immediately. Outside the main thread (some sweep launchers)
    signals cannot be caught and the handlers are not installed.
    """

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is not None:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def __enter__(self) -> GracefulStop:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
