"""The benchmark scripts build rl_lab's components the way a run does: a piece of each, on
tiny inputs, so a renamed config or module breaks a test rather than the next benchmark."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def load_script(name: str):
    """``scripts/<name>.py`` as a module (its ``main`` is not run)."""
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_gan_trains_one_epoch_with_the_gan_trainer_s_defaults(one_torch_thread):
    bench = load_script("bench_gan")
    gen, disc = bench.fashion_nets(width=4, seed=0)
    images = torch.rand(64, 1, 28, 28)
    seconds = bench.trainer_epoch(gen, disc, images, batch_size=32, seed=0)
    assert seconds > 0


def test_bench_time_to_solve_variants_compose_and_validate(compose_cfg):
    from rl_lab.rl.task import validate_config

    bench = load_script("bench_time_to_solve")
    for name, overrides in bench.VARIANTS.items():
        cfg = compose_cfg(*overrides, "seed=10")
        validate_config(cfg)
        assert cfg.env.id == "CartPole-v1", name
    assert compose_cfg(*bench.VARIANTS["sb3_dqn_zoo"]).agent.n_steps == 1  # the Zoo's, not ours
