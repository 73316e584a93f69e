"""An exported policy, run by onnxruntime alone, against ``mode=eval`` on the same episodes.

Exports the checkpoint (``mode=export``), then plays ``--episodes`` greedy episodes twice from
``reset(seed=eval.seed + i)``: once through rl_lab's evaluation (``mode=eval``), once with only
gymnasium and onnxruntime (the README's ten lines). Prints both returns per episode and whether
they agree. Works for policies on one flat observation (MLP encoders, no observation wrappers).

    python scripts/check_onnx_policy.py CHECKPOINT [--episodes 20] [--out DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import onnxruntime
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rl_lab.reports.machine import describe_machine  # noqa: E402
from rl_lab.reports.runs import read_results  # noqa: E402
from rl_lab.run_dir import read_json  # noqa: E402


def rl_lab_cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "rl_lab", *args], cwd=ROOT, check=True)


def onnx_returns(policy_path: Path, env_id: str, episodes: int, seed: int) -> list[float]:
    """Greedy returns with onnxruntime and gymnasium only."""
    policy = onnxruntime.InferenceSession(str(policy_path))
    env = gym.make(env_id)
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done, total = False, 0.0
        while not done:
            (action,) = policy.run(["action"], {"obs": obs[None].astype(np.float32)})
            obs, reward, terminated, truncated, _ = env.step(int(action[0]))
            done, total = terminated or truncated, total + float(reward)
        returns.append(total)
    env.close()
    return returns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None, help="export/eval dirs (default: temp)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="onnx_check_"))
    checkpoint = args.checkpoint.resolve()
    rl_lab_cli("mode=export", f"checkpoint={checkpoint}", f"hydra.run.dir={out / 'export'}")
    rl_lab_cli(
        "mode=eval",
        f"checkpoint={checkpoint}",
        f"episodes={args.episodes}",
        "progress=false",
        f"hydra.run.dir={out / 'eval'}",
    )
    evaluated = read_results(out / "eval", required=True)
    saved = read_json(out / "eval" / "results.json") or {}
    env_id = str(saved["env"])
    seed = int(OmegaConf.load(out / "eval" / "config.yaml").eval.seed)
    ours = [float(r) for r in saved["eval"]["returns"]]
    onnx = onnx_returns(out / "export" / "policy.onnx", env_id, args.episodes, seed)
    print(f"{describe_machine()}")
    print(f"command: python {' '.join(sys.argv)}")
    print(f"{env_id}, {args.episodes} episodes from reset(seed={seed} + i)")
    print(f"mode=eval:        mean {np.mean(ours):.2f}  {ours}")
    print(f"onnxruntime only: mean {np.mean(onnx):.2f}  {onnx}")
    same = ours == onnx
    print(f"identical per episode: {same} (mode=eval objective {evaluated.final_return})")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
