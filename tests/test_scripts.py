"""The benchmark scripts build rl_lab's components the way a run does: a piece of each, on
tiny inputs, so a renamed config or module breaks a test rather than the next benchmark."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

import pytest
import torch

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def load_script(name: str):
    """``scripts/<name>.py`` as a module (its ``main`` is not run)."""
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
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


def test_bench_floors_loops_run_their_budget(one_torch_thread):
    bench = load_script("bench_floors")
    dqn = bench.floor_dqn(1_300, seed=0)  # 1,000 random steps, then one 128-step phase
    ppo = bench.floor_ppo(2 * 8 * 32, seed=0)  # two rollouts of 8 envs x 32 steps
    td3 = bench.floor_td3(10_050, seed=0)  # 10,000 random steps, then 50 updates
    ddpg = bench.floor_ddpg(10_050, seed=0)
    sac = bench.floor_sac(150, seed=0)  # 100 random steps, then 50 updates
    a2c = bench.floor_a2c(3 * 8 * 5, seed=0)  # three rollouts of 8 envs x 5 steps
    for result in (dqn, ppo, td3, ddpg, sac, a2c):
        assert result["sps"] > 0 and result["wall_time_s"] > 0
    assert td3["update_gflops"] > 0 and ddpg["update_gflops"] > 0 and sac["update_gflops"] > 0


def test_bench_floors_commands_compose_to_the_floors_settings(compose_cfg):
    from rl_lab.rl.task import validate_config

    bench = load_script("bench_floors")
    loops = bench.loops(50_000, 100_000, 15_000, 5_000, 200_000, 8_192)
    dqn = compose_cfg(*loops["dqn"].overrides)
    validate_config(dqn)
    for key, value in bench.DQN_ZOO.items():
        if key != "hidden":
            assert dqn.agent[key] == value, key
    assert list(dqn.agent.network.encoder.hidden_sizes) == bench.DQN_ZOO["hidden"]
    assert (dqn.agent.n_steps, dqn.agent.lr_schedule) == (1, "constant")
    ppo = compose_cfg(*loops["ppo"].overrides)
    assert ppo.env.num_envs == bench.PPO_ZOO["num_envs"]
    for key in ("n_steps", "batch_size", "n_epochs", "learning_rate", "gamma", "gae_lambda"):
        assert ppo.agent[key] == bench.PPO_ZOO[key], key
    td3 = compose_cfg(*loops["td3"].overrides)
    for key, value in bench.TD3_ZOO.items():
        if key != "hidden":
            assert td3.agent[key] == value, key
    assert list(td3.agent.network.critic.hidden_sizes) == bench.TD3_ZOO["hidden"]
    # one TD3 step: target actor, 2 target critics, 2 critics forward and backward, half an
    # actor step; 2 x batch x weights per forward
    actor = 2 * 256 * (3 * 400 + 400 * 300 + 300 * 1)
    critic = 2 * 256 * (4 * 400 + 400 * 300 + 300 * 1)
    assert bench.td3_update_flops(256) == actor + 8 * critic + 1.5 * (actor + critic)
    ddpg = compose_cfg(*loops["ddpg"].overrides)
    validate_config(ddpg)
    for key, value in bench.DDPG_ZOO.items():
        if key not in ("hidden", "target_noise_clip"):  # the clip of no smoothing: unused
            assert ddpg.agent[key] == value, key
    # DDPG: one critic, an actor step on every critic step
    ddpg_step = actor + 4 * critic + 3 * (actor + critic)
    assert bench.td3_update_flops(256, c=bench.DDPG_ZOO) == ddpg_step
    sac = compose_cfg(*loops["sac"].overrides)
    validate_config(sac)
    for key, value in bench.SAC_ZOO.items():
        if key != "hidden":
            assert sac.agent[key] == value, key
    for net in ("actor", "critic"):
        assert list(sac.agent.network[net].hidden_sizes) == bench.SAC_ZOO["hidden"], net
        assert sac.agent.network[net].activation == "relu", net
    assert (sac.agent.n_critics, sac.agent.n_steps, sac.agent.use_sde) == (2, 1, False)
    assert sac.agent.lr_schedule == "constant"
    # one SAC step: the actor (mean and log-std heads) on states and next states, 2 target
    # critics, 2 critics forward and backward, 2 critics forward and back to the actions only,
    # the actor backward; 2 x batch x weights per forward
    actor = 2 * 256 * (3 * 256 + 256 * 256 + 256 * 2)
    critic = 2 * 256 * (4 * 256 + 256 * 256 + 256 * 1)
    assert bench.sac_update_flops(256) == 4 * actor + 12 * critic
    a2c = compose_cfg(*loops["a2c"].overrides)
    validate_config(a2c)
    assert a2c.env.num_envs == bench.A2C_ZOO["num_envs"]
    for key, value in bench.A2C_ZOO.items():
        if key not in ("num_envs", "hidden"):
            assert a2c.agent[key] == value, key
    encoder = a2c.agent.network.encoder
    assert list(encoder.hidden_sizes) == bench.A2C_ZOO["hidden"] and encoder.activation == "tanh"
    assert not a2c.agent.network.shared and a2c.agent.use_rms_prop
    assert (a2c.agent.lr_schedule, a2c.agent.normalize_advantage) == ("constant", False)
    pong = compose_cfg(*loops["ppo_pong"].overrides)
    validate_config(pong)
    assert pong.env.num_envs == bench.PPO_ATARI["num_envs"] and pong.env.backend == "gymnasium"
    for key, value in bench.PPO_ATARI.items():
        if key != "num_envs":
            assert pong.agent[key] == value, key
    assert pong.agent.network.encoder.type == "nature_cnn" and pong.agent.network.shared
    assert (pong.env.atari.frame_stack, pong.env.atari.screen_size) == (4, 84)
    # the Nature CNN on one stack: 3 convolutions, the 3136x512 layer and 6 + 1 heads
    macs = 400 * 32 * 256 + 81 * 64 * 512 + 49 * 64 * 576 + 3136 * 512 + 512 * 7
    assert bench.nature_cnn_flops(1, 6) == 2 * macs


def test_bench_floors_pong_loop_runs_one_rollout(one_torch_thread):
    bench = load_script("bench_floors")
    pong = bench.floor_ppo_pong(1_024, seed=0)  # one rollout of 8 games x 128 steps
    assert pong["sps"] > 0 and pong["update_gflops"] > 0


def test_bench_scaling_points_compose_and_the_dqn_step_is_timed(compose_cfg, one_torch_thread):
    from rl_lab.rl.task import validate_config

    bench = load_script("bench_scaling")
    for n in (1, 64):
        for vectorization in bench.VECTORIZATIONS:
            cfg = compose_cfg(*bench.ppo_overrides(n, vectorization))
            validate_config(cfg)  # the minibatch divides every rollout
            assert cfg.agent.n_steps == bench.PPO_N_STEPS and cfg.env.num_envs == n
    validate_config(compose_cfg(*bench.pong_overrides(8)))
    times = bench.dqn_step_times(1_000, iterations=3)
    assert times["sample_us"] > 0 and times["update_us"] > 0


def test_bench_gan_quality_derives_per_epoch_times_and_resume_steps(tmp_path, compose_cfg):
    from rl_lab.gan.task import validate_config

    bench = load_script("bench_gan_quality")
    for name, variant in bench.VARIANTS.items():
        cfg = compose_cfg("task=gan", *variant.overrides, *bench.COMMON)
        validate_config(cfg)
        assert cfg.dataset.name == "fashion_mnist" and cfg.metrics.every == 1, name
        assert cfg.model.conditional == (variant.target is bench.LABELS), name
    history = [
        {"epoch": e, "time/train_s": 10.0, "time/epoch_s": 11.0, "val/label_accuracy": acc}
        for e, acc in zip((1, 2, 3, 4), (0.5, 0.8, 0.91, 0.95), strict=True)
    ]
    # run.log: the metric classifier's epoch lines are not the GAN's; process 0 launched at
    # t0 ran epochs 1-2, process 1 (a resume) launched at t0 + 100 s ran epochs 3-4
    t0 = 1_800_000_000.0
    stamp = lambda s: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t0 + s))  # noqa: E731
    trainer = "[rl_lab.supervised.trainer][INFO] - epoch"
    (tmp_path / "run.log").write_text(
        f"[{stamp(1)},000]{trainer} 1/15  train loss 2.8 accuracy 0.1 | val loss 2.2\n"
        f"[{stamp(15)},000]{trainer} 1/2  losses discriminator 1.36 generator 0.68\n"
        f"[{stamp(27)},000]{trainer} 2/2  losses discriminator 1.2 generator 0.7\n"
        f"[{stamp(120)},000]{trainer} 3/4  losses discriminator 1.1 generator 0.8\n"
        f"[{stamp(132)},500]{trainer} 4/4  losses discriminator 1.0 generator 0.9\n"
    )
    stamps = bench.epoch_stamps(tmp_path / "run.log")
    assert [epoch for _, epoch in stamps] == [1, 2, 3, 4]
    rows = bench.epoch_table(history, stamps, [t0, t0 + 100.0], floor=0.5)
    # epoch 1 from the launch, epochs 2 and 4 the interval since the epoch before; epoch 3, first
    # of the resumed process: its training time + the median overhead of epochs 2 and 4
    # (12 - 10 and 12.5 - 10 s)
    assert [r["process_s"] for r in rows] == pytest.approx([15.0, 27.0, 39.25, 51.75])
    assert [r["process_estimated"] for r in rows] == [False, False, True, True]
    assert [r["train_s"] for r in rows] == [10.0, 20.0, 30.0, 40.0]
    reached = bench.first_reached(rows, bench.LABELS, floor=0.5)
    assert reached["epoch"] == 3 and reached["train_s"] == 30.0
    assert bench.FD.met(1.49, floor=0.5) and not bench.FD.met(1.5, floor=0.5)
    assert bench.process_times(history, stamps, []) == [(None, False)] * 4

    step = bench.next_step
    assert step("completed", 3, met=True, budget=10, has_last=True) == "done"
    assert step("completed", 10, met=False, budget=10, has_last=True) == "done"
    assert step("completed", 5, met=False, budget=10, has_last=True) == "resume"
    assert step("interrupted", 2, met=False, budget=10, has_last=True) == "resume"
    assert step("", 2, met=False, budget=10, has_last=True) == "resume"  # killed: no results
    assert step("failed", 2, met=False, budget=10, has_last=True) == "failed"
    assert step("", 0, met=False, budget=10, has_last=False) == "start"


def test_bench_gan_quality_smoke_writes_the_report_and_reruns_nothing(
    tmp_path, monkeypatch, one_torch_thread
):
    bench = load_script("bench_gan_quality")
    args = ["--smoke", "--variants", "cgan", "--epochs", "1", "--out", str(tmp_path)]
    assert bench.main(args) == 0
    report = json.loads((tmp_path / "bench_gan_quality.json").read_text())
    table = (tmp_path / "bench_gan_quality.md").read_text()
    assert {"machine", "command", "date", "floor", "runs", "fastest"} <= set(report)
    assert report["command"].startswith("python scripts/bench_gan_quality.py --smoke")
    assert report["processes_launched"] == 1
    (run,) = report["runs"]
    assert (run["variant"], run["status"], run["epochs_run"], run["processes"]) == (
        "cgan",
        "completed",
        1,
        1,
    )
    assert run["target"] == "label accuracy >= 0.90" and run["threshold"] == 0.9
    (epoch,) = run["epochs"]
    assert 0 < epoch["train_s"] <= epoch["train_eval_s"] < epoch["process_s"] < 120
    assert not epoch["process_estimated"] and 0 <= epoch["label_accuracy"] <= 1
    assert epoch["fd_over_floor"] == pytest.approx(
        epoch["frechet_distance"] / report["floor"]["fd_real_vs_real"]
    )
    assert "| variant | seed | target |" in table and "| cgan | 0 | label accuracy" in table
    # the floor is bench_gan's
    run_dir = tmp_path / "runs" / "cgan_s0"
    overrides = json.loads((run_dir / "timing.json").read_text())["overrides"]
    floor = load_script("bench_gan").reference_points(overrides, run_dir)["fd_real_vs_real"]
    assert report["floor"]["fd_real_vs_real"] == pytest.approx(floor)

    def no_launch(*_):
        raise AssertionError("a finished run was launched again")

    monkeypatch.setattr(bench, "LAUNCH", no_launch)
    assert bench.main(args) == 0
    again = json.loads((tmp_path / "bench_gan_quality.json").read_text())
    assert again["processes_launched"] == 0 and again["runs"][0]["epochs"] == run["epochs"]


def test_gpu_check_workloads_compose_on_both_budgets(compose_cfg):
    from rl_lab.rl.task import validate_config

    check = load_script("gpu_check")
    assert {w.kind for w in check.WORKLOADS} == {"rl", "gan"}
    for workload in check.WORKLOADS:
        for overrides in (workload.overrides, workload.smoke):
            cfg = compose_cfg(*overrides, "device=cuda")
            assert cfg.device == "cuda"
            if workload.kind == "rl":
                validate_config(cfg)


def test_gpu_check_falls_back_to_the_cpu_and_prints_one_table(tmp_path, monkeypatch):
    check = load_script("gpu_check")
    # as on a machine without CUDA, for this process and the runs and tests it starts
    monkeypatch.setattr(check, "cuda_device", lambda: None)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    args = ["--smoke", "--out", str(tmp_path), "--only", "DQN", "DCGAN",
            "--tests", "tests/test_cuda.py"]  # fmt: skip
    assert check.main(args) == 0
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    table = (tmp_path / "gpu_check.md").read_text()
    assert report["gpu"] is None and "CPU fallback" in table
    # the CUDA tests were collected and skipped, not run
    assert report["cuda_tests"]["counts"].get("skipped", 0) >= 5
    assert "passed" not in report["cuda_tests"]["counts"]
    dqn, gan = report["rows"]
    assert (dqn["kind"], gan["kind"]) == ("rl", "gan") and "cuda" not in dqn
    for row in (dqn, gan):
        assert row["cpu"]["status"] == "completed" and row["cpu"]["speed"] > 0
        assert row["cpu"]["peak_gpu_memory_mb"] is None  # recorded on CUDA only
        assert "device=cpu" in row["cpu"]["command"]
    assert -10 < dqn["cpu"]["evaluation"] <= 500 and gan["cpu"]["evaluation"] > 0
    assert f"| DQN CartPole-v1 | {dqn['cpu']['speed']:,.0f} | - | - | - |" in table
