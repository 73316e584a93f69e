"""Every observation space gymnasium defines reaches the networks, or is refused up front; every
action space an agent declares (Discrete, MultiDiscrete, Box) is acted in."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import onnxruntime
import pytest
from gymnasium import spaces

import rl_lab
from rl_lab import app
from rl_lab.agents import AGENTS
from rl_lab.errors import ConfigError
from rl_lab.exporting import export
from rl_lab.rl.envs import check_observation_space, encode_observations
from rl_lab.rl.task import ACTION_SPACES

OBSERVATIONS = {
    "Discrete": spaces.Discrete(5),
    "MultiDiscrete": spaces.MultiDiscrete([3, 4]),
    "MultiBinary": spaces.MultiBinary(4),
    "Box2D": spaces.Box(-1.0, 1.0, (2, 3), np.float32),
    "Dict": spaces.Dict(
        {"pos": spaces.Box(-1.0, 1.0, (2,), np.float32), "flag": spaces.Discrete(2)}
    ),
    "Tuple": spaces.Tuple((spaces.Box(0.0, 1.0, (1,), np.float32), spaces.MultiBinary(2))),
}
ACTIONS = {
    "Discrete": spaces.Discrete(2),
    "Box": spaces.Box(-1.0, 1.0, (1,), np.float32),
    "MultiDiscrete": spaces.MultiDiscrete([3, 2], start=[1, 0]),  # choices {1,2,3} x {0,1}
    "MultiDiscrete0": spaces.MultiDiscrete([3, 2]),  # {0,1,2} x {0,1}
}


def _good(space: gym.Space, action) -> bool:
    if isinstance(space, spaces.Discrete):
        return action == 0
    if isinstance(space, spaces.MultiDiscrete):
        return list(action) == list(space.start + space.nvec - 1)  # each dimension's last
    return action[0] < 0


class TinyEnv(gym.Env):
    """Ten steps of random observations from ``observation_space``; reward 1 for action 0, a
    negative continuous action or the last choice of every MultiDiscrete dimension. An action
    outside the space is an error."""

    def __init__(self, obs: str = "Discrete", act: str = "Discrete") -> None:
        self.observation_space = OBSERVATIONS[obs]
        self.action_space = ACTIONS[act]
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(seed)
        self._t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self._t += 1
        assert self.action_space.contains(np.asarray(action, self.action_space.dtype)), action
        good = _good(self.action_space, action)
        return self.observation_space.sample(), float(good), False, self._t >= 10, {}


for _obs in OBSERVATIONS:
    for _act in ACTIONS:
        gym.register(
            f"rl_lab_test/Tiny-{_obs}-{_act}-v0", TinyEnv, kwargs={"obs": _obs, "act": _act}
        )

QUICK = ["total_steps=200", "eval.freq=0", "eval.final_episodes=2", "progress=false"]


@pytest.mark.parametrize("obs", list(OBSERVATIONS))
def test_dqn_trains_on_every_observation_space(compose_cfg, tmp_path, obs):
    overrides = [
        f"env=rl_lab_test/Tiny-{obs}-Discrete-v0", *QUICK, "agent.learning_starts=50",
        "agent.batch_size=8", "agent.buffer_size=500", "agent.network.encoder.hidden_sizes=[8]",
    ]  # fmt: skip
    results = app.run(compose_cfg(*overrides), tmp_path, overrides)
    assert results["status"] == "completed" and results["eval"]["episodes"] == 2


@pytest.mark.parametrize("obs", ["Dict", "MultiDiscrete"])
def test_ppo_trains_on_structured_observations_with_box_actions(compose_cfg, tmp_path, obs):
    overrides = [
        "agent=ppo", f"env=rl_lab_test/Tiny-{obs}-Box-v0", *QUICK, "agent.n_steps=50",
        "agent.batch_size=25", "agent.n_epochs=1",
    ]  # fmt: skip
    assert app.run(compose_cfg(*overrides), tmp_path, overrides)["status"] == "completed"


@pytest.mark.parametrize("agent", ["a2c", "ppo", "ppo_lstm", "reinforce"])
def test_the_actor_critic_family_acts_in_multi_discrete_spaces(compose_cfg, tmp_path, agent):
    overrides = [
        f"agent={agent}", "env=rl_lab_test/Tiny-Discrete-MultiDiscrete-v0", *QUICK,
        "agent.network.encoder.hidden_sizes=[8]",
        # REINFORCE plays whole episodes: it wants the time limit said (TinyEnv has its own)
        *(["env.max_episode_steps=10"] if agent == "reinforce" else ["agent.n_steps=20"]),
        *(["agent.batch_size=20", "agent.n_epochs=1"] if agent.startswith("ppo") else []),
    ]  # fmt: skip
    results = app.run(compose_cfg(*overrides), tmp_path, overrides)
    assert results["status"] == "completed" and results["eval"]["episodes"] == 2


def test_ppo_learns_the_best_multi_discrete_action(compose_cfg, tmp_path):
    overrides = [
        "agent=ppo", "env=rl_lab_test/Tiny-Discrete-MultiDiscrete-v0", "total_steps=3000",
        "eval.freq=0", "eval.final_episodes=5", "progress=false", "agent.n_steps=100",
        "agent.batch_size=50", "agent.n_epochs=4", "agent.learning_rate=3e-3",
    ]  # fmt: skip
    results = app.run(compose_cfg(*overrides), tmp_path, overrides)
    # a random policy earns 10/6 per episode; the greedy one takes (3, 1) at every step
    assert results["eval"]["mean_return"] == 10.0
    # exported, the policy answers in the env's units too (the space starts at 1)
    agent = rl_lab.load(tmp_path / "checkpoints" / "last.pt")
    obs = np.stack([agent.observation_space.sample() for _ in range(8)]).astype(np.float32)
    session = onnxruntime.InferenceSession(str(export(agent, tmp_path / "p.onnx")))
    (actions,) = session.run(None, {"obs": obs})
    np.testing.assert_array_equal(actions, agent.predict(obs)[0])
    assert actions.shape == (8, 2) and (actions == [3, 1]).all()


def test_sb3_acts_in_multi_discrete_spaces_that_start_at_zero(compose_cfg, tmp_path):
    overrides = [
        "agent=ppo", "impl=sb3", "env=rl_lab_test/Tiny-Discrete-MultiDiscrete0-v0", *QUICK,
        "agent.n_steps=20", "agent.batch_size=10", "agent.n_epochs=1",
    ]  # fmt: skip
    results = app.run(compose_cfg(*overrides), tmp_path / "run", overrides)
    assert results["status"] == "completed" and results["impl"] == "sb3"
    # SB3 picks indices from 0 whatever the space's start: refused before work, not sent
    shifted = [o.replace("MultiDiscrete0", "MultiDiscrete") for o in overrides]
    with pytest.raises(ConfigError, match="impl=sb3 .* start"):
        app.run(compose_cfg(*shifted), tmp_path / "shifted", shifted)
    assert not (tmp_path / "shifted").exists()


def test_flattened_observations_are_one_hot_boxes():
    env = encode_observations(TinyEnv("Dict"))
    assert isinstance(env.observation_space, spaces.Box) and env.observation_space.shape == (4,)
    obs, _ = env.reset(seed=0)
    assert obs[:2].sum() == 1.0  # "flag": one-hot of Discrete(2) (Dict keys are sorted)
    assert encode_observations(gym.make("CartPole-v1")).observation_space.shape == (4,)  # Box kept


def test_a_space_that_cannot_be_encoded_is_refused():
    with pytest.raises(ConfigError, match="observation space Text.*cannot encode"):
        check_observation_space(spaces.Text(5), "SomeEnv-v0")
    with pytest.raises(ConfigError, match="cannot encode"):
        check_observation_space(spaces.Tuple((spaces.Discrete(2), spaces.Text(3))), "X-v0")


@pytest.mark.parametrize(
    ("agent", "env", "able"),
    [
        ("dqn", "rl_lab_test/Tiny-Box2D-Box-v0", "Agents for it: td3"),
        ("td3", "rl_lab_test/Tiny-Discrete-Discrete-v0", "Agents for it: dqn"),
        ("dqn", "rl_lab_test/Tiny-Discrete-MultiDiscrete-v0", "Agents for it: a2c, ppo"),
    ],
)
def test_an_agent_and_action_space_that_do_not_match_are_refused_before_work(
    compose_cfg, tmp_path, agent, env, able
):
    cfg = compose_cfg(f"agent={agent}", f"env={env}", *QUICK)
    with pytest.raises(ConfigError, match=f"agent={agent} cannot act in .*{able}"):
        app.run(cfg, tmp_path / "run", [])
    assert not (tmp_path / "run").exists()


def test_every_registered_agent_declares_its_action_spaces():
    assert set(AGENTS) <= set(ACTION_SPACES)
