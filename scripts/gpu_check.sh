#!/usr/bin/env bash
# The checks that need an NVIDIA GPU, in one call of about 10 minutes (never part of CI).
#
#   bash scripts/gpu_check.sh            # writes everything under $OUT (default outputs/gpu_check)
#
# 1. the machine: nvidia-smi, torch's CUDA build and device;
# 2. the tests that skip without CUDA (the CUDA RNG round trip), run with CUDA present;
# 3. short runs on device=cuda: DQN and PPO on CartPole (float32 and bfloat16 autocast), a
#    DCGAN on digits, each with its results.json (sps, final evaluation);
# 4. Atari throughput on the GPU: rl_lab next to Stable-Baselines3 (scripts/bench_atari.py,
#    short budgets, every core).
# Each step logs to its own file and a failed step does not stop the others; the summary at the
# end lists each step's exit status.
set -u
OUT="${OUT:-outputs/gpu_check}"
mkdir -p "$OUT"
PY="${PY:-python}"
if [ ! -x "$PY" ] && ! command -v "$PY" > /dev/null; then PY=python3; fi
declare -a SUMMARY=()

step() {  # step NAME TIMEOUT_S COMMAND...
    local name=$1 limit=$2
    shift 2
    echo "== $name" | tee -a "$OUT/summary.txt"
    local start=$SECONDS
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    SUMMARY+=("$name: rc=$rc in $((SECONDS - start)) s")
    tail -5 "$OUT/$name.log"
}

# a fresh device machine has only the working tree: install the project once
if ! "$PY" -c "import rl_lab, torch" 2> /dev/null; then
    step install 300 "$PY" -m pip install --quiet -e ".[dev]"
fi

step machine 60 bash -c "nvidia-smi; $PY -c 'import torch; print(torch.__version__, \
torch.version.cuda, torch.cuda.is_available(), torch.cuda.get_device_name(0))'"
step cuda_tests 300 "$PY" -m pytest -q -p no:cacheprovider tests/test_training.py \
    tests/test_config.py tests/rl/test_atari.py -k "cuda or device"

RUNS="$OUT/runs"
common=(device=cuda progress=false eval.freq=0)
step dqn_cartpole 180 "$PY" -m rl_lab agent=dqn env=CartPole-v1 total_steps=20000 \
    "${common[@]}" hydra.run.dir="$RUNS/dqn"
step dqn_cartpole_bf16 180 "$PY" -m rl_lab agent=dqn env=CartPole-v1 total_steps=20000 \
    agent.mixed_precision=true "${common[@]}" hydra.run.dir="$RUNS/dqn_bf16"
step ppo_cartpole 180 "$PY" -m rl_lab agent=ppo env=CartPole-v1 total_steps=20000 \
    "${common[@]}" hydra.run.dir="$RUNS/ppo"
step dcgan_digits 180 "$PY" -m rl_lab task=gan trainer.epochs=2 device=cuda progress=false \
    hydra.run.dir="$RUNS/dcgan"
step atari_bench 420 "$PY" scripts/bench_atari.py --only dqn ppo --repeats 1 \
    --out "$OUT/atari.md"

"$PY" - "$RUNS" << 'EOF' | tee "$OUT/results.txt"
import json, sys
from pathlib import Path
for path in sorted(Path(sys.argv[1]).glob("*/results.json")):
    r = json.loads(path.read_text())
    print(path.parent.name, {k: r.get(k) for k in ("status", "device", "sps", "objective")})
EOF
printf '%s\n' "${SUMMARY[@]}" | tee -a "$OUT/summary.txt"
