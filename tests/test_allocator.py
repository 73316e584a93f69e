"""reuse_freed_memory: under its settings a freed 16 MiB block stays in the heap and is reused.

Only what rl_lab sets is checked (mallopt's thresholds and their effect on one block), never how
often glibc's own defaults page-fault: that depends on the machine and the glibc version.
"""

import ctypes
import ctypes.util
import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _libc_mallopt() -> bool:
    """Whether this process's C library has glibc's ``mallopt`` (and ``mallinfo``)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    return all(hasattr(libc, name) for name in ("mallopt", "mallinfo", "gnu_get_libc_version"))


needs_glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not _libc_mallopt(),
    reason="needs glibc's mallopt: other C libraries (musl, macOS, Windows) have no such knobs",
)

# Runs in a fresh interpreter: mallopt changes the whole process, and the heap must not hold
# blocks freed by earlier tests. mallinfo's counters tell heap blocks (``arena``: bytes taken
# from the kernel with brk; ``uordblks``/``fordblks``: in use/free there) from mmap'ed ones
# (``hblks``), so the check does not depend on which address the kernel hands out.
SCRIPT = """
import ctypes, ctypes.util, json, sys
from rl_lab.allocator import reuse_freed_memory

BLOCK = 16 * 1024 * 1024
libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.restype, libc.free.argtypes = None, [ctypes.c_void_p]
FIELDS = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
          "fordblks", "keepcost")
wide = hasattr(libc, "mallinfo2")  # glibc >= 2.33: size_t counters; older: int
class MallInfo(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t if wide else ctypes.c_int) for name in FIELDS]
mallinfo = libc.mallinfo2 if wide else libc.mallinfo
mallinfo.restype, mallinfo.argtypes = MallInfo, []
def info():
    m = mallinfo()
    return {name: getattr(m, name) for name in FIELDS}

applied = reuse_freed_memory()
if sys.argv[1] == "malloc":  # the block itself, as any C code asks for it
    before = info()
    first = libc.malloc(BLOCK)
    ctypes.memset(first, 1, BLOCK)  # touched, as a tensor's buffer is
    held = info()
    libc.free(first)
    freed = info()
    second = libc.malloc(BLOCK)
    again = info()
    libc.free(second)
    seen = {"before": before, "held": held, "freed": freed, "again": again, "first": first,
            "second": second}
else:  # torch asks for aligned blocks (posix_memalign): the same thresholds apply to them
    import torch
    before = info()
    tensor = torch.empty(BLOCK // 4)  # 16 MiB of float32, as a training step allocates
    tensor.fill_(1.0)
    held = info()
    del tensor
    seen = {"before": before, "held": held, "freed": info()}
print(json.dumps({"applied": applied, **seen}))
"""

BLOCK = 16 * 1024 * 1024


def tuned(part: str) -> dict:
    """What the script's ``part`` (``malloc`` or ``tensor``) saw in a fresh interpreter with
    rl_lab's allocator settings."""
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, part],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def tuned_malloc() -> dict:
    """A 16 MiB ``malloc``, ``free`` and ``malloc`` again under the settings."""
    return tuned("malloc")


@needs_glibc
def test_the_settings_take_effect(tuned_malloc):
    assert tuned_malloc["applied"] is True  # both mallopt calls succeeded


@needs_glibc
def test_a_16_mib_block_comes_from_the_heap_not_mmap(tuned_malloc):
    before, held = tuned_malloc["before"], tuned_malloc["held"]
    assert held["hblks"] == before["hblks"]  # no new mmap'ed block
    assert held["uordblks"] - before["uordblks"] >= BLOCK  # the heap holds it


@needs_glibc
def test_a_freed_block_stays_in_the_heap_and_is_reused(tuned_malloc):
    held, freed, again = tuned_malloc["held"], tuned_malloc["freed"], tuned_malloc["again"]
    assert freed["arena"] == held["arena"]  # not trimmed: the heap kept its pages
    assert freed["fordblks"] >= BLOCK  # kept as free heap memory
    assert tuned_malloc["second"] == tuned_malloc["first"]  # the same block again
    assert again["arena"] == held["arena"] and again["hblks"] == held["hblks"]  # nothing new


@needs_glibc
def test_a_16_mib_tensor_comes_from_the_heap_and_stays_there_when_freed():
    seen = tuned("tensor")
    before, held, freed = seen["before"], seen["held"], seen["freed"]
    assert held["hblks"] == before["hblks"]
    assert held["uordblks"] - before["uordblks"] >= BLOCK
    assert freed["arena"] == held["arena"] and freed["fordblks"] >= BLOCK
