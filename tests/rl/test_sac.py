import io
import json
import shutil

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rl_lab import app, checkpoint
from rl_lab.errors import ConfigError
from rl_lab.rl.sac import SAC, parse_ent_coef
from rl_lab.rl.task import validate_config
from tests.rl.continuous import ACTIONS, NET, OBS, batch, make, params, same, tiny

TINY = tiny("sac")


# Tiny networks: a second thread only adds contention on a busy CPU.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_agent(**kwargs) -> SAC:
    return make(SAC, **kwargs)


def test_actions_stay_within_the_bounds_and_sampling_follows_the_policy():
    agent = make_agent()
    rng = np.random.default_rng(0)
    obs = rng.normal(0, 100, (500, 3)).astype(np.float32)  # saturates the tanh
    for actions in (agent.predict(obs), agent.act(obs, 0, rng), agent.random_actions(500, rng)):
        assert actions.shape == (500, 2) and actions.dtype == np.float32
        assert (actions >= ACTIONS.low).all() and (actions <= ACTIONS.high).all()
    # greedy = tanh(mean) in env units; sampled actions spread around it with the policy's std
    one = np.zeros((4000, 3), np.float32)
    dist = agent.actor.distribution(torch.as_tensor(one[:1]))
    half_range, centre = (ACTIONS.high - ACTIONS.low) / 2, (ACTIONS.high + ACTIONS.low) / 2
    greedy = centre + half_range * torch.tanh(dist.gaussian.mean).detach().numpy()[0]
    np.testing.assert_allclose(agent.predict(one[:1])[0], greedy, rtol=1e-6)
    sampled = agent.act(one, 0, np.random.default_rng(1))
    pre_tanh = np.arctanh((sampled - centre) / half_range)
    np.testing.assert_allclose(pre_tanh.std(0), dist.gaussian.std.detach().numpy()[0], rtol=0.05)
    # the loop's generator drives the sampling: same seed, same actions
    again = agent.act(one, 0, np.random.default_rng(1))
    np.testing.assert_array_equal(sampled, again)


def test_the_critic_loss_is_the_soft_td_error_with_n_step_discounts():
    agent = make_agent(ent_coef=0.3, gamma=0.9)
    b = batch(16)._replace(terminated=np.array([0, 1] * 8, np.float32))
    b = b._replace(discounts=np.full(16, 0.9**3, np.float32))  # a 3-step batch
    obs, next_obs = torch.as_tensor(b.obs), torch.as_tensor(b.next_obs)
    actions = agent.scaling.to_scaled(torch.as_tensor(b.actions))
    critic, critic_target = (params(agent.critic), params(agent.critic_target))
    torch.manual_seed(5)  # the update draws the same two samples: batch states, next states
    with torch.no_grad():
        agent.actor.distribution(obs).rsample()
        next_actions, next_log_prob = agent.actor.distribution(next_obs).rsample()
        soft_v = agent.critic_target.min(next_obs, next_actions) - 0.3 * next_log_prob
        target = torch.as_tensor(b.rewards) + 0.9**3 * (1 - torch.as_tensor(b.terminated)) * soft_v
        expected = 0.5 * sum(F.mse_loss(q, target) for q in agent.critic(obs, actions))
    torch.manual_seed(5)
    metrics = agent.update(b, 0)
    torch.testing.assert_close(metrics["losses/critic_loss"], expected)
    assert list(metrics)[0] == "losses/critic_loss"  # the loop checks the first for NaN
    assert not same(critic, params(agent.critic)) and not same(
        critic_target, params(agent.critic_target)
    )


@pytest.mark.parametrize(("target_entropy", "direction"), [(5.0, 1), (-50.0, -1)])
def test_entropy_coefficient_tuning_moves_towards_the_target(target_entropy, direction):
    """Entropy below the target (at most 2 log 2 here) raises ent_coef; above it lowers it."""
    agent = make_agent(ent_coef="auto_0.5", target_entropy=target_entropy, learning_rate=1e-2)
    values = [agent.ent_coef().item()]
    for step in range(20):
        metrics = agent.update(batch(seed=step), step)
        values.append(agent.ent_coef().item())
    assert values[0] == pytest.approx(0.5)
    assert all(direction * step > 0 for step in np.diff(values))
    assert "losses/ent_coef_loss" in metrics and agent.charts(0)["charts/ent_coef"] == values[-1]


def test_auto_target_entropy_is_minus_the_action_dimension_and_fixed_coefficients_stay():
    assert make_agent().target_entropy == -2.0 and make_agent().ent_coef().item() == 1.0
    fixed = make_agent(ent_coef=0.2)
    assert fixed.ent_coef_optimizer is None and not fixed.ent_coef.log_value.requires_grad
    for step in range(3):
        metrics = fixed.update(batch(seed=step), step)
    assert fixed.ent_coef().item() == pytest.approx(0.2) and "losses/ent_coef_loss" not in metrics
    assert make_agent(ent_coef=0.0).ent_coef().item() == 0.0  # no entropy bonus at all
    assert parse_ent_coef("auto") == (True, 1.0) and parse_ent_coef("auto_0.1") == (True, 0.1)
    for bad in ("auto_-1", "autox", "0.1x", -0.5, True):
        with pytest.raises(ConfigError, match="agent.ent_coef="):
            parse_ent_coef(bad)


def test_targets_move_every_target_update_interval_and_only_the_critics_have_targets():
    agent = make_agent(target_update_interval=3, tau=0.5)
    assert not hasattr(agent, "actor_target")
    moved = []
    for i in range(7):
        before = params(agent.critic_target)
        agent.update(batch(seed=i), i)
        moved.append(not same(before, params(agent.critic_target)))
    assert moved == [True, False, False, True, False, False, True] and agent.updates == 7


@pytest.mark.parametrize("use_sde", [False, True])
def test_mixed_precision_steps_in_bfloat16_and_keeps_float32_weights_and_losses(
    monkeypatch, use_sde
):
    from rl_lab.rl import buffers

    monkeypatch.setattr(buffers, "native_bfloat16", lambda: True)  # any CPU: emulated if not
    wide = {"type": "mlp", "hidden_sizes": [64, 64]}
    net = {"actor": wide, "critic": wide, "init": "default"}
    exact = make_agent(network=net, use_sde=use_sde, ent_coef=0.2)
    mixed = make_agent(network=net, use_sde=use_sde, ent_coef=0.2, mixed_precision=True)
    mixed.load_state_dict(exact.state_dict())
    fixed = batch(32)
    torch.manual_seed(1)
    reference = exact.update(fixed, 0)
    torch.manual_seed(1)  # the same fresh actions
    metrics = mixed.update(fixed, 0)
    for tag in ("losses/critic_loss", "losses/actor_loss", "losses/q_values", "losses/entropy"):
        assert metrics[tag].dtype == torch.float32, tag
        # bfloat16 keeps about 3 significant digits
        torch.testing.assert_close(metrics[tag], reference[tag], rtol=0.05, atol=0.05)
    assert all(p.dtype == torch.float32 for p in mixed.actor.parameters())


def test_mixed_precision_is_refused_where_bfloat16_is_emulated(monkeypatch):
    from rl_lab.rl import buffers

    monkeypatch.setattr(buffers, "native_bfloat16", lambda: False)
    with pytest.raises(ConfigError, match="CPU with native bfloat16"):
        make_agent(mixed_precision=True)


def test_state_dict_round_trip_restores_networks_optimizers_and_the_entropy_coefficient():
    agent = make_agent()
    for step in range(5):
        agent.update(batch(seed=step), step)
    other = make_agent()
    saved = io.BytesIO()  # through bytes, as a checkpoint goes (and weights_only loadable)
    torch.save(agent.state_dict(), saved)
    saved.seek(0)
    other.load_state_dict(torch.load(saved, weights_only=True))
    assert other.updates == 5 and other.ent_coef().item() == agent.ent_coef().item()
    obs = batch(16).obs
    np.testing.assert_array_equal(other.predict(obs), agent.predict(obs))
    # identical next update (same samples): optimizer moments and the coefficient restored
    for a in (agent, other):
        torch.manual_seed(7)
        a.update(batch(seed=9), 6)
    for name in ("actor", "critic", "critic_target", "ent_coef"):
        assert same(params(getattr(other, name)), params(getattr(agent, name))), name
    # loading copied in place: the layers are still views into the optimizer's flat tensor
    storage = other.actor.head.mean.weight.untyped_storage().data_ptr()
    assert other.actor_flat.param.untyped_storage().data_ptr() == storage


def test_discrete_and_unbounded_action_spaces_are_rejected(compose_cfg):
    with pytest.raises(ConfigError, match="SAC needs a continuous.*agent=dqn"):
        SAC(OBS, gym.spaces.Discrete(3), total_steps=10, network=NET)
    with pytest.raises(ConfigError, match="finite action bounds"):
        SAC(OBS, gym.spaces.Box(-np.inf, np.inf, (1,)), total_steps=10, network=NET)
    with pytest.raises(ConfigError, match="agent.ent_coef='autox' is invalid"):
        validate_config(compose_cfg("agent=sac", "env=Pendulum-v1", "agent.ent_coef=autox"))


def test_pendulum_preset_composes_with_sb3_defaults(compose_cfg):
    cfg = compose_cfg("agent=sac", "env=Pendulum-v1")
    validate_config(cfg)
    assert cfg.tuned_preset == "sac/Pendulum-v1" and cfg.total_steps == 20_000
    assert cfg.agent.learning_rate == 1e-3 and cfg.agent.ent_coef == "auto"
    assert (cfg.agent.batch_size, cfg.agent.tau, cfg.agent.n_critics) == (256, 0.005, 2)
    assert list(cfg.agent.network.actor.hidden_sizes) == [256, 256]


def test_a_run_writes_results_resumes_and_evaluates(compose_cfg, tmp_path):
    run = tmp_path / "run"
    overrides = ["total_steps=400", "agent.n_steps=3"]
    results = app.run(compose_cfg(*TINY, *overrides), run, overrides)
    assert (results["agent"], results["env_steps"], results["gradient_steps"]) == ("sac", 400, 200)
    assert json.loads((run / "results.json").read_text())["status"] == "completed"
    shutil.copytree(run, tmp_path / "copy")

    # resume continues from last.pt (agent, replay buffer, RNG); twice from the same checkpoint
    # it continues identically (new episodes start at resume: the loop reseeds its envs)
    resume = ["resume=true", "total_steps=600"]
    resumed = app.run(compose_cfg(*TINY, "agent.n_steps=3", *resume), run, resume)
    again = app.run(compose_cfg(*TINY, "agent.n_steps=3", *resume), tmp_path / "copy", resume)
    assert resumed["env_steps"] == 600 and resumed["gradient_steps"] == 400
    assert [h["env_steps"] for h in resumed["eval_history"]] == [200, 400, 600]
    assert resumed["eval"] == again["eval"]
    weights = [
        checkpoint.load(d / "checkpoints" / "last.pt")["agent"] for d in (run, tmp_path / "copy")
    ]
    assert all(
        torch.equal(weights[0]["actor"][k], weights[1]["actor"][k]) for k in weights[0]["actor"]
    )
    tags = set(EventAccumulator(str(run / "tb")).Reload().Tags()["scalars"])
    assert {
        "losses/critic_loss",
        "losses/actor_loss",
        "losses/ent_coef_loss",
        "losses/entropy",
        "charts/ent_coef",
        "eval/mean_return",
    } <= tags

    last = run / "checkpoints" / "last.pt"
    evaluated = app.run(
        compose_cfg("mode=eval", f"checkpoint={last}", "episodes=2"), tmp_path / "e", []
    )
    assert evaluated["eval"]["returns"] == resumed["eval"]["returns"]


def test_sac_learns_pendulum_in_a_few_thousand_steps(compose_cfg, tmp_path):
    overrides = [
        "total_steps=4000",
        "agent.learning_starts=1000",
        "agent.batch_size=128",
        "agent.buffer_size=10000",
        "agent.learning_rate=2e-3",
        "agent.tau=0.02",
        "agent.network.actor.hidden_sizes=[64,64]",
        "agent.network.critic.hidden_sizes=[64,64]",
        "eval.freq=0",
        "eval.final_episodes=10",
        "checkpointing.freq=0",
    ]
    trained = app.run(compose_cfg(*TINY, *overrides), tmp_path, overrides)["eval"]["mean_return"]
    # a uniformly random policy scores about -1200 on these episodes (see test_td3)
    assert trained > -400, trained


def test_the_exported_policy_is_the_greedy_squashed_mean(tmp_path):
    import rl_lab
    from rl_lab.exporting import check_export, export

    overrides = [*TINY, "total_steps=300", "eval.freq=0", "checkpointing.freq=0"]
    agent = rl_lab.load(rl_lab.train(*overrides, run_dir=tmp_path / "run").last_checkpoint)
    check = check_export(agent, export(agent, tmp_path / "p.pt", "torchscript"), "torchscript")
    assert check["max_abs_diff"] < 1e-5
