"""The allocator settings keep freed buffers for reuse instead of page-faulting them in again."""

import subprocess
import sys

import pytest

# Each round allocates and touches four 16 MiB tensors (as a training step allocates its
# activations and gradients), then frees them. Counts the page faults of ten rounds once glibc's
# adaptive thresholds have settled. Run in a fresh interpreter: mallopt is process-wide.
SCRIPT = """
import resource, sys, torch
from rl_lab.allocator import reuse_freed_memory
if sys.argv[1] == "tuned":
    assert reuse_freed_memory()
def rounds(n):
    for _ in range(n):
        xs = [torch.empty(4 * 1024 * 1024) for _ in range(4)]  # 16 MiB each
        for x in xs:
            x.fill_(1.0)
        del xs, x
rounds(5)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rounds(10)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
def test_freed_buffers_are_reused_without_page_faults():
    pages = 4 * 16 * 1024 * 1024 // 4096  # one round's buffers, if they are faulted in anew
    assert page_faults("tuned") < pages // 10
    assert page_faults("default") > pages  # the default trims the heap: faulted in every round
