"""The GPU path: runs on ``device=cuda`` train, record their GPU memory, resume, and hand their
checkpoints to a CPU. Every test here needs a CUDA device and is skipped without one;
``scripts/gpu_check.sh`` runs them (``pytest -m cuda``) on a GPU machine."""

from __future__ import annotations

import pytest
import torch

import rl_lab
from tests.conftest import TINY
from tests.gan.conftest import TINY_GAN

pytestmark = pytest.mark.cuda

ON_CUDA = [o for o in TINY if not o.startswith("device=")] + ["device=cuda"]


def test_a_dqn_run_trains_on_the_gpu_and_records_its_peak_memory(tmp_path):
    run = rl_lab.train(*ON_CUDA, run_dir=tmp_path / "dqn")
    assert run.results["status"] == "completed" and run.results["device"].startswith("cuda")
    assert run.results["peak_gpu_memory_mb"] > 0
    assert len(run.results["eval"]["returns"]) == 3


def test_a_gpu_run_resumes_and_its_checkpoint_evaluates_on_the_cpu(tmp_path):
    run = rl_lab.train(*ON_CUDA, "total_steps=800", run_dir=tmp_path / "dqn")
    longer = rl_lab.train(*ON_CUDA, "total_steps=1200", "resume=true", run_dir=run.dir)
    assert longer.results["env_steps"] >= 1200
    agent = rl_lab.load(longer.last_checkpoint, device="cpu")  # trained on cuda, played on cpu
    scored = rl_lab.evaluate(agent, episodes=2)
    assert len(scored["returns"]) == 2
    cpu_eval = rl_lab.train(
        "mode=eval", f"checkpoint={longer.last_checkpoint}", "episodes=2", "device=cpu",
        run_dir=tmp_path / "eval",
    )  # fmt: skip
    assert cpu_eval.results["eval"]["returns"] == scored["returns"]


def test_mixed_precision_trains_on_the_gpu(tmp_path):
    run = rl_lab.train(*ON_CUDA, "agent.mixed_precision=true", run_dir=tmp_path / "bf16")
    assert run.results["status"] == "completed"


def test_ppo_and_td3_train_on_the_gpu(tmp_path):
    ppo = rl_lab.train(
        "agent=ppo", "env=CartPole-v1", "total_steps=256", "env.num_envs=2", "agent.n_steps=64",
        "agent.batch_size=32", "agent.n_epochs=1", "eval.freq=0", "eval.final_episodes=2",
        "progress=false", "device=cuda", run_dir=tmp_path / "ppo",
    )  # fmt: skip
    td3 = rl_lab.train(
        "agent=td3", "env=Pendulum-v1", "total_steps=300", "agent.learning_starts=100",
        "agent.batch_size=16", "agent.buffer_size=1000", "eval.freq=0",
        "eval.final_episodes=2", "progress=false", "device=cuda", run_dir=tmp_path / "td3",
    )  # fmt: skip
    for run in (ppo, td3):
        assert run.results["status"] == "completed" and run.results["peak_gpu_memory_mb"] > 0


def test_a_gan_epoch_on_the_gpu_and_its_generator_on_the_cpu(tmp_path):
    overrides = [o for o in TINY_GAN if not o.startswith("device=")]
    run = rl_lab.train(*overrides, "trainer.epochs=1", "device=cuda", run_dir=tmp_path / "gan")
    assert run.results["status"] == "completed" and run.results["peak_gpu_memory_mb"] > 0
    images = rl_lab.load(run.last_checkpoint, device="cpu").sample(4, seed=0)
    assert images.shape[0] == 4


def test_the_network_zoo_computes_the_same_on_both_devices():
    from rl_lab.nets import MLP, LSTMEncoder, NatureCNN

    torch.manual_seed(0)
    cases = [
        (MLP(8, hidden_sizes=(32, 32)), torch.randn(5, 8)),
        (
            NatureCNN((4, 84, 84), features=64),
            torch.randint(0, 256, (5, 4, 84, 84), dtype=torch.uint8),
        ),
        (LSTMEncoder(28, hidden_size=16), torch.randn(5, 28, 28)),
    ]
    for net, x in cases:
        on_cpu = net(x)
        on_gpu = net.to("cuda")(x.to("cuda")).cpu()
        torch.testing.assert_close(on_gpu, on_cpu, rtol=1e-3, atol=1e-4)
