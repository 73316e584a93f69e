from pathlib import Path

import pytest
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import VecNormalize
from torch import nn

from rl_lab.agents import AGENTS
from rl_lab.baselines.mapping import sb3_algo, sb3_kwargs
from rl_lab.config import schema
from rl_lab.config_dict import flatten
from rl_lab.errors import ConfigError
from rl_lab.nets import ACTIVATIONS
from rl_lab.rl.configs import AGENT_CONFIGS
from rl_lab.rl.envs import env_spaces
from rl_lab.rl.task import build_agent, validate_config

CONF = Path(__file__).resolve().parents[2] / "conf"
#: The agents SB3 (or sb3-contrib) also implements.
SB3_AGENTS = sorted(name for name, entry in AGENTS.items() if entry.sb3 is not None)
PRESETS = [
    (name, path.stem)
    for name, entry in AGENTS.items()
    if entry.sb3 is not None
    for path in sorted((CONF / "preset" / name).glob("*.yaml"))
]


def test_every_agent_config_is_in_the_registry():
    assert sorted(AGENTS) == sorted(AGENT_CONFIGS)
    # the continuous off-policy agents and their SB3 counterparts
    assert {"sac", "ddpg"} <= set(SB3_AGENTS) and AGENTS["reinforce"].sb3 is None


def test_an_agent_without_an_sb3_counterpart_is_a_clear_error(compose_cfg):
    """SB3 has no REINFORCE: `impl=sb3` is refused before any work, naming the way out."""
    cfg = compose_cfg("agent=reinforce", "impl=sb3", "env=CartPole-v1")
    with pytest.raises(ConfigError, match="agent=reinforce has no Stable-Baselines3 .*impl=rl_lab"):
        validate_config(cfg)
    with pytest.raises(ConfigError, match="agents SB3 also implements are a2c, ddpg, dqn"):
        sb3_algo("reinforce")


@pytest.mark.parametrize("name", SB3_AGENTS)
def test_every_agent_key_is_mapped(compose_cfg, name):
    """A new field of an agent's config class needs a mapping (or a reason SB3 has none) in
    mapping.py: the keys are the config class's own (nested fields and encoder specs dotted),
    and the composed config has exactly those."""
    algo = sb3_algo(name)
    keys = set(flatten(schema(AGENT_CONFIGS[name])))
    assert set(flatten(compose_cfg(f"agent={name}").agent)) == keys
    unmapped = sorted(keys - algo.covered_keys())
    assert keys <= algo.covered_keys(), f"agent={name}: map {unmapped} in baselines/mapping.py"
    # a key SB3 has no option for says why (requires) or what differs (notes)
    assert all(why for _, why in algo.requires.values()) and all(algo.notes.values())


@pytest.mark.parametrize(("name", "env"), PRESETS, ids=lambda x: str(x))
def test_presets_map_one_to_one(compose_cfg, name, env):
    algo = sb3_algo(name)
    ours = compose_cfg(f"agent={name}", f"env={env}")
    theirs = compose_cfg(f"agent={name}", "impl=sb3", f"env={env}")
    assert {k: v for k, v in theirs.agent.items() if k != "name"} == {
        k: v for k, v in ours.agent.items() if k != "name"
    }
    assert theirs.total_steps == ours.total_steps
    kwargs = sb3_kwargs(algo, theirs.agent, action_dim=1)
    for key in algo.direct:
        assert kwargs[key] == ours.agent[key], key
    for key, schedule_key in algo.schedules.items():
        value = kwargs[key]
        if ours.agent[schedule_key] == "linear":
            assert isinstance(value, LinearSchedule)
            assert value(1.0) == pytest.approx(ours.agent[key])
            assert value(0.0) == 0.0
        else:
            assert value == ours.agent[key], key
    net, policy_kwargs = ours.agent.network, kwargs["policy_kwargs"]
    if name == "dqn":
        assert policy_kwargs["net_arch"] == list(net.encoder.hidden_sizes)
    elif name in ("td3", "ddpg", "sac"):
        assert policy_kwargs["net_arch"] == {
            "pi": list(net.actor.hidden_sizes),
            "qf": list(net.critic.hidden_sizes),
        }
        assert policy_kwargs["n_critics"] == ours.agent.n_critics
        if name != "sac":
            assert kwargs["action_noise"]._sigma.tolist() == [ours.agent.action_noise_std]
    elif name == "ppo_lstm":
        assert kwargs["policy"] == "MlpLstmPolicy"
        assert policy_kwargs["net_arch"] == []
        assert policy_kwargs["ortho_init"] == (net.init == "orthogonal")
        extractor = policy_kwargs["features_extractor_kwargs"]
        assert extractor["hidden_sizes"] == list(net.encoder.hidden_sizes)
        assert policy_kwargs["lstm_hidden_size"] == net.lstm.hidden_size
        assert policy_kwargs["n_lstm_layers"] == net.lstm.num_layers
        assert policy_kwargs["enable_critic_lstm"] and not policy_kwargs["shared_lstm"]
    else:  # a2c, ppo: separate actor and critic MLPs
        hidden = list(net.encoder.hidden_sizes)
        assert policy_kwargs["net_arch"] == {"pi": hidden, "vf": hidden}
        assert policy_kwargs["ortho_init"] == (net.init == "orthogonal")
    if name in ("a2c", "ppo", "ppo_lstm"):
        assert ("vec_normalize" in kwargs) == bool(ours.agent.normalize_obs)
    assert kwargs["policy"] in ("MlpPolicy", "MlpLstmPolicy")
    activation = net.encoder.activation if "encoder" in net else net.actor.activation
    assert policy_kwargs["activation_fn"] is ACTIVATIONS[activation]


def test_linear_learning_rate_becomes_an_sb3_schedule(compose_cfg):
    cfg = compose_cfg("agent=dqn", "agent.lr_schedule=linear", "agent.learning_rate=0.01")
    schedule = sb3_kwargs(sb3_algo("dqn"), cfg.agent)["learning_rate"]
    assert isinstance(schedule, LinearSchedule)
    assert schedule(1.0) == pytest.approx(0.01) and schedule(0.25) == pytest.approx(0.0025)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("agent.double_q=true", "agent.double_q=True cannot be reproduced"),
        ("agent.network.head=dueling", "no dueling head"),
        ("agent.loss=mse", "Huber"),
        ("agent.network.encoder.dropout=0.1", "no dropout"),
        ("agent.target_network=false", "always bootstraps from its target network"),
        ("agent.exploration_schedule=exponential", "decays epsilon linearly"),
    ],
)
def test_options_sb3_lacks_are_errors_that_name_them(compose_cfg, override, named):
    with pytest.raises(ConfigError, match=named):
        validate_config(compose_cfg("agent=dqn", "impl=sb3", override))


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (
            ["agent=ppo", "agent.recurrent=true", "agent.batch_size=256"],
            "agent.recurrent=True cannot be reproduced .*agent=ppo_lstm impl=sb3",
        ),
        (["agent=ppo_lstm", "agent.recurrent=false"], "agent.recurrent=False cannot be"),
        (["agent=a2c", "agent.recurrent=true"], "agent.recurrent=True .* no recurrent A2C"),
        (["agent=a2c", "agent.network.init=kaiming"], "agent.network.init='kaiming'"),
        (["agent=ppo", "agent.network.encoder.norm=layer"], "agent.network.encoder.norm="),
        (["agent=ppo_lstm", "agent.network.encoder.dropout=0.1"], "no dropout"),
    ],
)
def test_on_policy_options_sb3_lacks_are_errors_that_name_them(compose_cfg, overrides, named):
    with pytest.raises(ConfigError, match=named):
        validate_config(compose_cfg(*overrides, "impl=sb3"))


def _layer_shapes(module: nn.Module) -> list[tuple[int, ...]]:
    return sorted(tuple(p.shape) for p in module.parameters())


@pytest.mark.parametrize(
    ("ours", "overrides"),
    [
        ("ppo", ["env=CartPole-v1"]),
        ("ppo", ["env=CartPole-v1", "agent.network.shared=true"]),
        ("a2c", ["env=Pendulum-v1", "agent.network.encoder.hidden_sizes=[32]"]),
        ("ppo_lstm", ["env=CartPoleNoVel-v1", "agent.network.lstm.hidden_size=32"]),
        ("ppo_lstm", ["env=CartPoleNoVel-v1", "agent.network.shared=true"]),
    ],
    ids=str,
)
def test_sb3_on_policy_networks_have_our_layers(compose_cfg, ours, overrides):
    """Same layers (MLP → [LSTM] → heads, shared or separate), so the same parameter shapes."""
    ours_cfg = compose_cfg(f"agent={ours}", *overrides)
    theirs_cfg = compose_cfg(f"agent={ours}", "impl=sb3", *overrides)
    validate_config(theirs_cfg)
    our_policy = build_agent(ours_cfg, *env_spaces(ours_cfg.env), "cpu").policy
    model = build_agent(theirs_cfg, *env_spaces(theirs_cfg.env), "cpu").model
    assert _layer_shapes(model.policy) == _layer_shapes(our_policy)


def test_built_sb3_ppo_has_the_mapped_settings(compose_cfg):
    cfg = compose_cfg("agent=ppo", "impl=sb3", "env=CartPole-v1", "agent.target_kl=0.02")
    model = build_agent(cfg, *env_spaces(cfg.env), "cpu").model  # the tuned preset
    assert (model.n_steps, model.batch_size, model.n_epochs, model.n_envs) == (32, 256, 20, 8)
    assert (model.gamma, model.gae_lambda, model.target_kl) == (0.98, 0.8, 0.02)
    # linear schedules of progress_remaining: half-way through, half the initial value
    assert model.clip_range(1.0) == pytest.approx(0.2) and model.clip_range(0.5) == 0.1
    assert model.lr_schedule(0.5) == pytest.approx(5e-4)
    assert model.clip_range_vf is None and model.normalize_advantage
    assert model.policy.net_arch == {"pi": [64, 64], "vf": [64, 64]}
    assert isinstance(model.policy.optimizer, torch.optim.Adam)
    assert model.policy.optimizer.defaults["eps"] == 1e-5


def test_built_sb3_a2c_has_the_mapped_settings(compose_cfg):
    cfg = compose_cfg(
        "agent=a2c",
        "impl=sb3",
        "agent.n_steps=16",
        "agent.rms_prop_eps=1e-4",
        "agent.gae_lambda=0.9",
    )
    model = build_agent(cfg, *env_spaces(cfg.env), "cpu").model
    assert (model.n_steps, model.gae_lambda, model.n_envs) == (16, 0.9, 8)
    optimizer = model.policy.optimizer
    assert isinstance(optimizer, torch.optim.RMSprop)
    assert optimizer.defaults["eps"] == 1e-4 and optimizer.defaults["alpha"] == 0.99


def test_built_sb3_ppo_lstm_has_the_mapped_settings(compose_cfg):
    cfg = compose_cfg(
        "agent=ppo_lstm",
        "impl=sb3",
        "env=CartPoleNoVel-v1",
        "agent.network.lstm.hidden_size=32",
        "agent.network.lstm.num_layers=2",
    )
    model = build_agent(cfg, *env_spaces(cfg.env), "cpu").model
    assert isinstance(model, RecurrentPPO)
    assert (model.n_steps, model.batch_size, model.n_epochs) == (32, 256, 20)
    policy = model.policy
    assert (policy.lstm_actor.hidden_size, policy.lstm_actor.num_layers) == (32, 2)
    assert policy.lstm_critic is not None and not policy.shared_lstm
    # our MLP runs before the LSTM: it is the (per actor/critic) features extractor
    assert policy.lstm_actor.input_size == 64 and not policy.share_features_extractor


def test_normalisation_becomes_vec_normalize(compose_cfg):
    cfg = compose_cfg(
        "agent=ppo", "impl=sb3", "agent.normalize_obs=true", "agent.normalize_reward=true"
    )
    env = build_agent(cfg, *env_spaces(cfg.env), "cpu").model.get_env()
    assert isinstance(env, VecNormalize) and env.norm_obs and env.norm_reward
    assert env.gamma == 0.98 and env.clip_obs == 10.0 and env.clip_reward == float("inf")


def test_unknown_sb3_agent_lists_the_supported_ones(compose_cfg):
    cfg = compose_cfg("agent=dqn", "impl=sb3", "agent.name=foo")
    with pytest.raises(ConfigError, match="Available agents: .*dqn"):
        validate_config(cfg)


def test_built_sb3_model_has_the_mapped_settings(compose_cfg):
    cfg = compose_cfg("agent=dqn", "impl=sb3", "agent.network.encoder.hidden_sizes=[32,16]")
    agent = build_agent(cfg, *env_spaces(cfg.env), "cpu")
    model = agent.model
    assert model.batch_size == 64 and model.target_update_interval == 10
    assert model.train_freq.frequency == 256 and model.gradient_steps == 128
    linears = [m for m in model.policy.q_net.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [32, 16, 2]


@pytest.mark.parametrize("name", ["dqn", "sac"])
def test_training_every_n_episodes_is_sb3s_episode_train_freq(compose_cfg, name):
    env = "CartPole-v1" if name == "dqn" else "Pendulum-v1"
    cfg = compose_cfg(
        f"agent={name}", f"env={env}", "impl=sb3", "agent.train_freq=2",
        "agent.train_freq_unit=episode",
    )  # fmt: skip
    model = build_agent(cfg, *env_spaces(cfg.env), "cpu").model
    assert (model.train_freq.frequency, model.train_freq.unit.value) == (2, "episode")


def test_built_sb3_td3_has_the_mapped_settings(compose_cfg):
    cfg = compose_cfg("agent=td3", "impl=sb3", "env=Pendulum-v1", "agent.action_noise_std=0.3")
    validate_config(cfg)
    model = build_agent(cfg, *env_spaces(cfg.env), "cpu").model
    assert model.policy_delay == 2 and model.gamma == 0.98 and model.buffer_size == 200_000
    assert model.action_noise._sigma.tolist() == [0.3]
    actor = [m.out_features for m in model.actor.mu.modules() if isinstance(m, nn.Linear)]
    assert actor == [400, 300, 1]


@pytest.mark.parametrize("name", ["td3", "ddpg"])
def test_ornstein_uhlenbeck_noise_becomes_sb3s(compose_cfg, name):
    from stable_baselines3.common.noise import OrnsteinUhlenbeckActionNoise

    cfg = compose_cfg(f"agent={name}", "impl=sb3", "env=MountainCarContinuous-v0")  # the preset
    validate_config(cfg)
    noise = build_agent(cfg, *env_spaces(cfg.env), "cpu").model.action_noise
    assert isinstance(noise, OrnsteinUhlenbeckActionNoise)
    assert noise._sigma.tolist() == [0.5] and (noise._theta, noise._dt) == (0.15, 1e-2)


def test_td3_actor_and_critic_activations_must_match(compose_cfg):
    cfg = compose_cfg(
        "agent=td3", "impl=sb3", "env=Pendulum-v1", "agent.network.actor.activation=tanh"
    )
    with pytest.raises(ConfigError, match="one activation for actor and critic"):
        validate_config(cfg)


def test_built_sb3_sac_has_the_mapped_settings(compose_cfg):
    cfg = compose_cfg(
        "agent=sac", "impl=sb3", "env=Pendulum-v1", "agent.ent_coef=auto_0.1",
        "agent.n_steps=3", "agent.target_update_interval=2",
    )  # fmt: skip
    validate_config(cfg)
    model = build_agent(cfg, *env_spaces(cfg.env), "cpu").model
    assert model.learning_rate == 1e-3 and model.gamma == 0.99  # the preset, SB3's default
    assert model.ent_coef == "auto_0.1" and model.target_entropy == -1.0
    assert model.log_ent_coef.exp().item() == pytest.approx(0.1)
    assert model.target_update_interval == 2 and model.replay_buffer.n_steps == 3
    assert len(model.critic.q_networks) == 2
    actor = [m.out_features for m in model.actor.latent_pi.modules() if isinstance(m, nn.Linear)]
    assert actor == [256, 256]
    fixed = compose_cfg("agent=sac", "impl=sb3", "env=Pendulum-v1", "agent.ent_coef=0.05")
    assert build_agent(fixed, *env_spaces(fixed.env), "cpu").model.ent_coef_tensor.item() == (
        pytest.approx(0.05)
    )


def test_built_sb3_ddpg_has_the_mapped_settings(compose_cfg):
    cfg = compose_cfg("agent=ddpg", "impl=sb3", "env=Pendulum-v1")
    validate_config(cfg)
    model = build_agent(cfg, *env_spaces(cfg.env), "cpu").model
    assert type(model).__name__ == "DDPG" and model.gamma == 0.98
    assert model.policy_delay == 1 and model.target_noise_clip == 0.0
    assert len(model.critic.q_networks) == 1
    assert model.action_noise._sigma.tolist() == [0.1]
    actor = [m.out_features for m in model.actor.mu.modules() if isinstance(m, nn.Linear)]
    assert actor == [400, 300, 1]


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("agent.policy_delay=2", "agent.policy_delay=2 cannot be reproduced"),
        ("agent.target_policy_noise=0.2", "no target policy smoothing"),
    ],
)
def test_ddpg_options_sb3_fixes_are_errors_that_name_them(compose_cfg, override, named):
    with pytest.raises(ConfigError, match=named):
        validate_config(compose_cfg("agent=ddpg", "impl=sb3", "env=Pendulum-v1", override))


def test_gsde_distribution_is_sb3s():
    """Our gSDE Gaussian against SB3's StateDependentNoiseDistribution with the same log-stds,
    features and exploration matrices: samples, log-probabilities and entropies agree."""
    from stable_baselines3.common.distributions import StateDependentNoiseDistribution

    from rl_lab.nets import StateDependentGaussian

    torch.manual_seed(0)
    mean, latent = torch.randn(5, 2, dtype=torch.float64), torch.randn(5, 8, dtype=torch.float64)
    log_std = torch.randn(8, 2, dtype=torch.float64) * 0.3 - 1.0
    sb3 = StateDependentNoiseDistribution(2)
    sb3.latent_sde_dim = 8
    sb3.sample_weights(log_std, batch_size=5)
    sb3.proba_distribution(mean, log_std, latent)
    eps = sb3.exploration_matrices / log_std.exp()  # the standard-normal draws behind them
    ours = StateDependentGaussian(mean, latent, log_std.exp(), eps)
    torch.testing.assert_close(ours.sample(), sb3.sample())
    actions = torch.randn(5, 2, dtype=torch.float64)
    torch.testing.assert_close(ours.log_prob(actions), sb3.log_prob(actions))
    torch.testing.assert_close(ours.entropy(), sb3.entropy())
    # SAC's: tanh-squashed (SB3 writes the correction log(1 - a^2 + 1e-6), we the exact one)
    from rl_lab.nets import SquashedStateDependentGaussian

    squashed = StateDependentNoiseDistribution(2, squash_output=True, learn_features=True)
    squashed.exploration_mat, squashed.exploration_matrices = eps[0] * log_std.exp(), eps[:0]
    squashed.proba_distribution(mean, log_std, latent)
    ours_squashed = SquashedStateDependentGaussian(mean, latent, log_std.exp(), eps[0])
    sampled = ours_squashed.sample()
    torch.testing.assert_close(sampled, squashed.sample())
    inside = torch.tanh(0.5 * actions)  # away from the bounds, where the two forms differ
    torch.testing.assert_close(
        ours_squashed.log_prob(inside), squashed.log_prob(inside), atol=1e-4, rtol=1e-4
    )
