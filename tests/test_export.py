"""Exported policies, classifiers and generators compute what rl_lab computes, outside rl_lab."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import onnxruntime
import pytest
import torch

import rl_lab
from rl_lab.config import EXPORT_FORMATS
from rl_lab.errors import ConfigError
from rl_lab.exporting import FORMATS, check_export, export, exportable, real_inputs
from tests.conftest import TINY, run_cli
from tests.gan.conftest import TINY_GAN
from tests.supervised.conftest import FAST


@pytest.fixture(scope="module")
def dqn(tmp_path_factory):
    return rl_lab.train(*TINY, run_dir=tmp_path_factory.mktemp("export") / "dqn")


def run_onnx(path, inputs):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {k: np.asarray(v) for k, v in inputs.items()})


def test_an_exported_dqn_picks_the_same_actions_on_real_observations(dqn, tmp_path):
    agent = rl_lab.load(dqn.best_checkpoint)
    obs = real_inputs(agent, 64)["obs"].numpy()
    actions, q_values = run_onnx(export(agent, tmp_path / "p.onnx"), {"obs": obs})
    np.testing.assert_array_equal(actions, agent.predict(obs)[0])
    with torch.no_grad():
        expected = agent.policy.q_net(torch.as_tensor(obs)).numpy()
    np.testing.assert_allclose(q_values, expected, atol=1e-5)
    scripted = torch.jit.load(str(export(agent, tmp_path / "p.pt", "torchscript")))
    np.testing.assert_array_equal(scripted(torch.as_tensor(obs))[0].numpy(), actions)


def test_onnxruntime_alone_scores_the_same_as_mode_eval(dqn, tmp_path):
    path = export(rl_lab.load(dqn.best_checkpoint), tmp_path / "policy.onnx")
    # as the README shows: gymnasium and onnxruntime only
    session = onnxruntime.InferenceSession(str(path))
    env = gym.make("CartPole-v1")
    returns = []
    for i in range(5):
        obs, _ = env.reset(seed=1_000_000 + i)
        total, done = 0.0, False
        while not done:
            (action,) = session.run(["action"], {"obs": obs[None].astype(np.float32)})
            obs, reward, terminated, truncated, _ = env.step(int(action[0]))
            total, done = total + reward, terminated or truncated
        returns.append(total)
    scored = rl_lab.train(
        "mode=eval", f"checkpoint={dqn.best_checkpoint}", "episodes=5", run_dir=tmp_path / "e"
    )
    assert returns == scored.results["eval"]["returns"]


def test_mode_export_writes_and_checks_the_file(dqn, tmp_path):
    proc = run_cli("mode=export", f"checkpoint={dqn.best_checkpoint}", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert (results["mode"], results["file"]) == ("export", "policy.onnx")
    assert results["check"]["same_discrete_outputs"] and results["check"]["max_abs_diff"] < 1e-5
    assert results["check"]["max_rel_diff"] <= results["check"]["max_abs_diff"]
    assert (tmp_path / "policy.onnx").stat().st_size > 0


def test_an_unknown_format_is_refused(dqn, tmp_path):
    proc = run_cli(
        "mode=export",
        f"checkpoint={dqn.best_checkpoint}",
        "format=tflite",
        f"hydra.run.dir={tmp_path}",
    )
    assert proc.returncode == 2 and "expected one of onnx, torchscript" in proc.stderr
    with pytest.raises(ConfigError, match="not an export format"):
        export(rl_lab.load(dqn.best_checkpoint), tmp_path / "x", "tflite")
    assert tuple(FORMATS) == EXPORT_FORMATS  # the config's choices are the exporters


@pytest.mark.parametrize(
    "overrides",
    [
        # a Gaussian policy with the observation normalisation folded in
        ["agent=ppo", "env=Pendulum-v1", "agent.normalize_obs=true", "agent.n_steps=64",
         "agent.batch_size=32", "total_steps=128"],
        # TD3: the actor, scaled to the bounds
        ["agent=td3", "env=Pendulum-v1", "agent.learning_starts=50", "agent.batch_size=16",
         "total_steps=100"],
        # a categorical A2C policy
        ["agent=a2c", "env=CartPole-v1", "total_steps=100"],
    ],
    ids=["ppo-gaussian-normalized", "td3", "a2c"],
)  # fmt: skip
def test_exported_policies_match_within_1e5(tmp_path, overrides):
    quiet = ["eval.freq=0", "eval.final_episodes=2", "progress=false", "logging.log_freq=50"]
    run = rl_lab.train(*overrides, *quiet, run_dir=tmp_path / "run")
    agent = rl_lab.load(run.last_checkpoint)
    obs = real_inputs(agent, 64)["obs"].numpy()
    (actions,) = run_onnx(export(agent, tmp_path / "p.onnx"), {"obs": obs})
    np.testing.assert_allclose(actions, agent.predict(obs)[0], atol=1e-5)
    for fmt, name in (("onnx", "p.onnx"), ("torchscript", "p.pt")):
        check = check_export(agent, export(agent, tmp_path / name, fmt), fmt)
        assert check["max_abs_diff"] < 1e-5 and check["same_discrete_outputs"]


def test_an_exported_recurrent_policy_carries_its_state(tmp_path):
    overrides = [
        "agent=ppo_lstm", "env=CartPoleNoVel-v1", "env.num_envs=2", "agent.n_steps=32",
        "agent.batch_size=32", "agent.n_epochs=1", "agent.network.lstm.hidden_size=8",
        "agent.normalize_obs=true", "total_steps=64", "eval.freq=0", "eval.final_episodes=2",
        "progress=false",
    ]  # fmt: skip
    agent = rl_lab.load(rl_lab.train(*overrides, run_dir=tmp_path / "run").last_checkpoint)
    path = export(agent, tmp_path / "p.onnx")
    obs = real_inputs(agent, 8)["obs"].numpy()
    state, ours = agent.policy.initial_state(8).numpy(), None
    for _ in range(3):  # three steps, the state fed back each time
        actions, state = run_onnx(path, {"obs": obs, "state": state})
        expected, ours = agent.predict(obs, state=ours)
        np.testing.assert_array_equal(actions, expected)
        np.testing.assert_allclose(state, ours.numpy(), atol=1e-5)


def test_an_exported_nature_cnn_policy_takes_uint8_frames(tmp_path):
    overrides = [
        "agent=dqn", "env=ALE/Pong-v5", "env.max_episode_steps=50", "total_steps=120",
        "agent.learning_starts=100", "agent.buffer_size=200", "eval.freq=0",
        "eval.final_episodes=1", "progress=false",
    ]  # fmt: skip
    agent = rl_lab.load(rl_lab.train(*overrides, run_dir=tmp_path / "run").last_checkpoint)
    _, example, _ = exportable(agent)
    assert example["obs"].dtype == torch.uint8 and example["obs"].shape[1:] == (4, 84, 84)
    obs = real_inputs(agent, 16)["obs"].numpy()
    actions, _ = run_onnx(export(agent, tmp_path / "p.onnx"), {"obs": obs})
    np.testing.assert_array_equal(actions, agent.predict(obs)[0])


def test_exported_classifier_and_generator_match(tmp_path):
    clf = rl_lab.load(rl_lab.train(*FAST, run_dir=tmp_path / "clf").best_checkpoint)
    images = real_inputs(clf, 32)["images"]
    logits, labels = run_onnx(export(clf, tmp_path / "c.onnx"), {"images": images})
    np.testing.assert_array_equal(labels, clf.predict(images.numpy()))
    with torch.no_grad():
        np.testing.assert_allclose(logits, clf.model(images).numpy(), atol=1e-5)

    run = rl_lab.train(*TINY_GAN, "model=cgan", "trainer.epochs=1", run_dir=tmp_path / "gan")
    gan = rl_lab.load(run.last_checkpoint)
    path = export(gan, tmp_path / "g.onnx")
    from rl_lab.gan.sampling import noise

    z = noise(6, gan.generator.latent_dim, 5)
    labels = torch.full((6,), 3, dtype=torch.int64)
    (images,) = run_onnx(path, {"z": z, "labels": labels})
    np.testing.assert_allclose(images, gan.sample(6, labels=3, seed=5), atol=1e-5)
