"""Resident memory of a 1M-transition Atari replay buffer (rl_lab.rl.frame_buffer).

Allocates ``FrameReplayBuffer(capacity, (4, 84, 84))``, adds Pong-like episodes (one new 84x84
frame per step, a zero-padded stack at every episode start, ``--episode-length`` steps per
episode) until the frame ring has wrapped around, so that every page of the buffer is written, and
reports the process's resident set size (``VmRSS``) before and after, next to the buffer's own
``nbytes`` and the bound ``1.1 x transitions x 84 x 84`` bytes. For comparison it prints what a
buffer that stores ``obs`` and ``next_obs`` stacks (rl_lab's ``ReplayBuffer``, SB3's default
``ReplayBuffer``) would need for the same transitions; it does not allocate those.

    python scripts/bench_replay_memory.py                     # 1M transitions: ~7.3 GB of RAM
    python scripts/bench_replay_memory.py --capacity 100000
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import numpy as np

from rl_lab.reports.machine import describe_machine
from rl_lab.rl.frame_buffer import FrameReplayBuffer

FRAME = (84, 84)
GB = 1e9


def rss_bytes() -> int:
    """Resident set size of this process (Linux ``/proc/self/status``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmRSS not found: this script needs Linux's /proc")


def fill(buffer: FrameReplayBuffer, transitions: int, episode_length: int, seed: int) -> None:
    """Add ``transitions`` single-env transitions of fixed-length episodes."""
    rng = np.random.default_rng(seed)
    pool = rng.integers(1, 256, size=(64, *FRAME), dtype=np.uint8)  # reused frame contents
    stack = np.zeros((1, 4, *FRAME), dtype=np.uint8)
    stack[0, -1] = pool[0]
    action, reward = np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.float32)
    for t in range(transitions):
        next_obs = np.empty_like(stack)
        next_obs[0, :-1] = stack[0, 1:]
        next_obs[0, -1] = pool[t % len(pool)]
        done = np.array([(t + 1) % episode_length == 0])
        buffer.add(stack, action, reward, next_obs, done, np.zeros(1, dtype=bool))
        if done[0]:  # a fresh, zero-padded stack
            stack = np.zeros_like(stack)
            stack[0, -1] = pool[(t + 1) % len(pool)]
        else:
            stack = next_obs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=1_000_000)
    parser.add_argument("--episode-length", type=int, default=900, help="Pong: ~900 steps")
    args = parser.parse_args()

    n = args.capacity
    frame_bytes = FRAME[0] * FRAME[1]
    before = rss_bytes()
    started = time.perf_counter()
    buffer = FrameReplayBuffer(n, (4, *FRAME))
    allocated = rss_bytes()
    added = buffer.frame_capacity  # enough for the frame ring to wrap: every page written
    fill(buffer, added, args.episode_length, seed=0)
    filled = rss_bytes()
    elapsed = time.perf_counter() - started
    batch = buffer.sample(32, np.random.default_rng(0))
    assert batch.obs.shape == (32, 4, *FRAME) and len(buffer) == buffer.capacity

    bound = 1.1 * n * frame_bytes
    growth = filled - before
    stacked = 2 * n * 4 * frame_bytes  # obs + next_obs stacks per transition
    rows = [
        ("transitions added / kept", f"{added:,} / {len(buffer):,}"),
        ("frame ring (frames incl. 1/32 slack, all written)", f"{buffer.frame_capacity:,}"),
        ("buffer nbytes (frames + per-transition fields)", f"{buffer.nbytes / GB:.3f} GB"),
        ("RSS growth after allocation (untouched pages)", f"{(allocated - before) / GB:.3f} GB"),
        ("RSS growth after filling every page (measured)", f"**{growth / GB:.3f} GB**"),
        ("bound: 1.1 x transitions x 84 x 84 bytes", f"{bound / GB:.3f} GB"),
        ("measured / (transitions x 84 x 84 bytes)", f"{growth / (n * frame_bytes):.3f}"),
        ("obs + next_obs stacks (ReplayBuffer, SB3's default)", f"{stacked / GB:.1f} GB"),
        ("SB3 optimize_memory_usage=True (one stack per step)", f"{stacked / 2 / GB:.1f} GB"),
    ]
    print(
        f"## Replay memory, {n:,} Atari transitions ({datetime.date.today().isoformat()})\n\n"
        f"`python scripts/bench_replay_memory.py --capacity {n}` on {describe_machine()}, "
        f"episodes of {args.episode_length} steps; fill time "
        f"{elapsed:.0f} s.\n\n| quantity | value |\n|---|---|"
    )
    for name, value in rows:
        print(f"| {name} | {value} |")
    if growth > bound:
        raise SystemExit(f"resident memory {growth / GB:.3f} GB exceeds the bound {bound / GB:.3f}")


if __name__ == "__main__":
    main()
