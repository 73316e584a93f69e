#!/usr/bin/env bash
# The checks that need an NVIDIA GPU, in one call (never part of CI): the CUDA tests, then DQN
# CartPole, TD3 Pendulum, PPO Pong (8 and 64 envs) and a DCGAN Fashion-MNIST epoch on cuda and
# on cpu, printed as one table (scripts/gpu_check.py says what each column measures).
#
#   bash scripts/gpu_check.sh                 # writes under $OUT (default outputs/gpu_check)
#   bash scripts/gpu_check.sh --only DQN      # extra arguments go to scripts/gpu_check.py
#
# A fresh device machine has only the working tree: the project is installed first. Fashion-MNIST
# is read from data/fashion_mnist/ or /usr/share/datasets/fashion-mnist when there (a machine
# without network cannot download it); otherwise the GAN row trains on the 8x8 digits and says so.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-outputs/gpu_check}"
mkdir -p "$OUT"
PY="${PY:-python}"
if ! command -v "$PY" > /dev/null; then PY=python3; fi
if ! "$PY" -c "import rl_lab, torch, pytest" 2> /dev/null; then
    "$PY" -m pip install --quiet -e ".[dev]" > "$OUT/install.log" 2>&1 \
        || { echo "install failed: see $OUT/install.log"; tail -20 "$OUT/install.log"; exit 1; }
fi
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || echo "nvidia-smi: not available (see $OUT/nvidia-smi.txt)"
exec "$PY" scripts/gpu_check.py --out "$OUT" "$@"
