"""The benchmark scripts build rl_lab's components the way a run does: a piece of each, on
tiny inputs, so a renamed config or module breaks a test rather than the next benchmark."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

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
    loops = bench.loops(50_000, 100_000, 15_000, 5_000, 200_000)
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
