"""The evaluation protocol (rl_lab/rl/evaluation.py): fixed per-episode seeds, greedy play,
frozen observation normalisation."""

from __future__ import annotations

import numpy as np
from omegaconf import OmegaConf

from rl_lab.rl.evaluation import EvalResult, Evaluator, greedy_policy, record_episode_gif

ENV = OmegaConf.create({"id": "CartPole-v1", "num_envs": 1, "vectorization": "sync",
                        "max_episode_steps": None, "kwargs": {}})  # fmt: skip


def always(action: int):
    return lambda obs: np.full(len(obs), action, dtype=np.int64)


def test_episode_i_starts_from_seed_plus_i():
    first = Evaluator(ENV, 4, seed=10).evaluate(always(0))
    # episodes 1..3 of seed 10 are episodes 0..2 of seed 11
    shifted = Evaluator(ENV, 3, seed=11).evaluate(always(0))
    assert first.lengths[1:] == shifted.lengths
    assert Evaluator(ENV, 4, seed=10).evaluate(always(0)).returns == first.returns


def balance(obs):
    return (obs[:, 2] + obs[:, 3] > 0).astype(np.int64)


def test_a_native_env_plays_the_seeded_episodes_on_sync_envs_unless_asked():
    native = OmegaConf.merge(ENV, {"vectorization": "native"})
    seeded = Evaluator(native, 6, seed=10)  # e.g. a run's final evaluation
    assert type(seeded.envs.unwrapped).__name__ == "SyncVectorEnv"
    assert seeded.evaluate(balance).returns == Evaluator(ENV, 6, seed=10).evaluate(balance).returns
    fast = Evaluator(native, 6, seed=10, native=True)  # a run's periodic evaluations
    assert type(fast.envs.unwrapped).__name__ == "CartPoleVectorEnv"
    first = fast.evaluate(balance)
    assert len(first.returns) == 6 and first.returns == fast.evaluate(balance).returns
    # native=True changes nothing for the other vectorizations
    assert type(Evaluator(ENV, 2, seed=0, native=True).envs.unwrapped).__name__ == "SyncVectorEnv"


def test_each_episode_is_counted_once_whatever_its_length():
    result = Evaluator(ENV, 5, seed=0).evaluate(always(1))
    assert len(result.returns) == 5 and result.returns == [float(n) for n in result.lengths]
    summary = result.as_dict()
    assert summary["episodes"] == 5 and summary["mean_return"] == float(np.mean(result.returns))


def test_greedy_policy_uses_predict_fn_and_the_normalizer():
    class Agent:
        def __init__(self):
            self.seen = []

        def predict(self, obs):
            self.seen.append(obs.copy())
            return np.zeros(len(obs), dtype=np.int64)

    agent = Agent()
    policy = greedy_policy(agent, 2, obs_normalizer=lambda obs: obs * 0 + 7)
    policy(np.ones((2, 4)))
    assert (agent.seen[0] == 7).all()

    class Recurrent(Agent):
        def predict_fn(self, n_envs):
            return lambda obs: np.full(n_envs, 1)

    assert (greedy_policy(Recurrent(), 3)(np.ones((3, 4))) == 1).all()


def test_a_gif_of_one_episode(tmp_path):
    calls = []

    def policy(obs):
        calls.append(obs.shape)
        return np.zeros(len(obs), dtype=np.int64)

    path = record_episode_gif(ENV, policy, tmp_path / "episode.gif", seed=0)
    from PIL import Image

    with Image.open(path) as gif:
        assert gif.n_frames > 1
    steps = int(Evaluator(ENV, 1, seed=0).evaluate(always(0)).lengths[0])
    assert len(calls) == steps and calls[0] == (1, 4)  # one whole episode, one obs per step
    assert EvalResult([1.0, 3.0], [1, 3]).mean_return == 2.0
