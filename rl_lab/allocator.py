"""Keep freed CPU buffers in the process for reuse (glibc's malloc).

By default glibc serves every allocation above a threshold (128 KiB, adapting up to 32 MiB) with
a fresh ``mmap`` and hands it back to the kernel on ``free``, and it trims the top of the heap as
soon as 128 KiB there is free. A training step allocates the same large tensors on every
iteration (activations, gradients, a batch of frames: megabytes each for a CNN), so each of them
is page-faulted in again, a page at a time, every step: for a Nature CNN update at batch 256, a
large share of its time on a CPU. Raising both thresholds keeps those buffers in the heap, where
the next step reuses them.

Only glibc (Linux) has these knobs; elsewhere :func:`reuse_freed_memory` does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: ``mallopt`` parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

#: The largest mmap threshold glibc accepts on 64-bit systems (``4 * 1024 * 1024 * sizeof(long)``):
#: blocks up to this size come from the heap.
MMAP_THRESHOLD = 32 * 1024 * 1024

#: Free memory the heap may keep at its top before it is returned to the kernel.
TRIM_THRESHOLD = 1024 * 1024 * 1024


def reuse_freed_memory() -> bool:
    """Serve blocks of up to 32 MiB from the heap and keep up to 1 GiB of it free for reuse.

    Returns:
        Whether the settings took effect (``False`` where the C library is not glibc).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
