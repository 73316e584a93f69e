"""What the user typed is never silently ignored: unknown keys, overrides that a checkpoint
mode would not read, and group choices that conflict with a checkpoint are refused; a
checkpoint supplies its own task."""

from __future__ import annotations

import json

import pytest

import rl_lab.__main__ as entry
from rl_lab import app, checkpoint
from rl_lab.config import unknown_keys
from rl_lab.errors import ConfigError
from tests.conftest import TINY, run_cli
from tests.gan.conftest import TINY_GAN


@pytest.fixture
def run_with_schema(compose_cfg, tmp_path):
    """``run_with_schema(*overrides)``: :func:`app.run` as the CLI calls it (with the schema)."""

    def _run(*overrides: str):
        reference = lambda kept: compose_cfg(*kept)  # noqa: E731
        return app.run(compose_cfg(*overrides), tmp_path / "run", list(overrides), reference)

    return _run


@pytest.mark.parametrize(
    ("overrides", "unknown", "suggested"),
    [
        (["+agent.learnin_rate=1e-3"], "`agent.learnin_rate`", "`agent.learning_rate`"),
        (["+learnin_rate=1e-3"], "`learnin_rate`", "`agent.learning_rate`"),
        (["task=supervised", "+trainer.learnin_rate=1e-3"], "`trainer.learnin_rate`", None),
        (["task=rl", "+model=mlp"], "`model`", None),
        (["+eval.episode=3"], "`eval.episode`", "`eval.episodes`"),
    ],
)
def test_unknown_keys_are_refused_with_close_matches(
    run_with_schema, tmp_path, overrides, unknown, suggested
):
    with pytest.raises(ConfigError, match="Unknown config key") as refused:
        run_with_schema(*overrides)
    message = str(refused.value)
    assert unknown in message
    if suggested:
        assert f"did you mean {suggested}" in message
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_free_form_mappings_and_known_keys_pass(run_with_schema):
    # ++ on a known key sets it; env.kwargs are gymnasium's own keyword arguments
    results = run_with_schema(*TINY, "++agent.gamma=0.9", "+env.kwargs.sutton_barto_reward=true")
    assert results["status"] == "completed"


def test_unknown_keys_compares_whole_trees(compose_cfg):
    reference = compose_cfg()
    cfg = compose_cfg("+agent.extra.deep=1", "+top=2")
    assert sorted(unknown_keys(cfg, reference)) == ["agent.extra", "top"]  # a mapping named once


def test_env_kwargs_the_env_does_not_take_are_a_config_error(compose_cfg, tmp_path):
    cfg = compose_cfg(*TINY, "+env.kwargs.foo=1")
    with pytest.raises(ConfigError, match="gymnasium could not build CartPole-v1 with foo=1"):
        app.run(cfg, tmp_path / "run", [])
    assert not (tmp_path / "run" / "tb").exists()


def test_resume_refuses_keys_the_saved_run_does_not_have(compose_cfg, tmp_path):
    run_dir = tmp_path / "run"
    app.run(compose_cfg(*TINY, "total_steps=400"), run_dir, [])
    overrides = ["resume=true", "+agent.learnin_rate=1"]
    with pytest.raises(ConfigError, match="`agent.learnin_rate` \\(did you mean"):
        app.run(compose_cfg(*TINY, *overrides), run_dir, overrides)


def test_the_cli_refuses_a_typo_added_with_plus(tmp_path):
    proc = run_cli(*TINY, "+agent.learnin_rate=1e-3", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2
    assert "agent.learning_rate" in proc.stderr and "Traceback" not in proc.stderr
    assert (
        not (tmp_path / "run" / "results.json").exists()
        or json.loads((tmp_path / "run" / "results.json").read_text())["status"] == "failed"
    )


@pytest.fixture
def dqn_checkpoint(compose_cfg, tmp_path):
    app.run(compose_cfg(*TINY, "total_steps=400"), tmp_path / "train", [])
    return tmp_path / "train" / "checkpoints" / "best.pt"


@pytest.mark.parametrize("choice", ["env=Acrobot-v1", "agent=td3", "task=supervised"])
def test_eval_refuses_a_group_choice_that_conflicts_with_the_checkpoint(
    compose_cfg, tmp_path, dqn_checkpoint, choice
):
    overrides = ["mode=eval", f"checkpoint={dqn_checkpoint}", choice]
    with pytest.raises(ConfigError, match="holds task=rl, agent=dqn, env=CartPole-v1"):
        app.run(compose_cfg(*overrides), tmp_path / "eval", overrides)


def test_eval_refuses_overrides_it_would_not_read(compose_cfg, tmp_path, dqn_checkpoint):
    overrides = ["mode=eval", f"checkpoint={dqn_checkpoint}", "agent.learning_rate=0.1"]
    with pytest.raises(ConfigError, match="`agent.learning_rate=0.1` would have no effect"):
        app.run(compose_cfg(*overrides), tmp_path / "eval", overrides)
    # what eval does read, and choices equal to the checkpoint's, are fine
    overrides = ["mode=eval", f"checkpoint={dqn_checkpoint}", "episodes=2", "env=CartPole-v1"]
    results = app.run(compose_cfg(*overrides), tmp_path / "eval", overrides)
    assert results["eval"]["episodes"] == 2


def test_a_checkpoint_names_its_task_and_choices(tmp_path, dqn_checkpoint):
    assert entry.checkpoint_choices([f"checkpoint={dqn_checkpoint}", "mode=eval"]) == [
        "task=rl",
        "agent=dqn",
        "env=CartPole-v1",
    ]
    # what the user chose stays theirs (a conflict is reported later, with the checkpoint's)
    assert entry.checkpoint_choices([f"checkpoint={dqn_checkpoint}", "env=Acrobot-v1"]) == [
        "task=rl",
        "agent=dqn",
    ]
    assert entry.checkpoint_choices([f"checkpoint={dqn_checkpoint}", "task=rl"]) == []
    assert entry.checkpoint_choices(["agent=dqn"]) == []
    gan = checkpoint.save(
        {"kind": "gan", "config": {"model": {"name": "cgan"}, "dataset": {"name": "digits"}}},
        tmp_path / "gan.pt",
    )
    assert entry.checkpoint_choices([f"checkpoint={gan}"]) == [
        "task=gan",
        "model=cgan",
        "dataset=digits",
    ]


def test_mode_sample_takes_the_task_from_the_checkpoint(compose_cfg, tmp_path):
    train_dir = tmp_path / "gan"
    overrides = [*TINY_GAN, "model=cgan", "trainer.epochs=1"]
    app.run(compose_cfg(*overrides), train_dir, overrides)
    last = train_dir / "checkpoints" / "last.pt"
    # the issue-6 command, without task=gan
    proc = run_cli(
        f"checkpoint={last}", "mode=sample", "n=16", "label=3", f"hydra.run.dir={tmp_path / 's'}"
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "s" / "results.json").read_text())
    assert (results["task"], results["mode"], results["label_name"]) == ("gan", "sample", "3")
    assert (tmp_path / "s" / "samples.png").is_file()


def test_an_unknown_key_without_plus_gets_close_matches_not_advice_to_add_it(tmp_path):
    proc = run_cli("agent.learnin_rate=1e-3", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2
    assert "did you mean `agent.learning_rate`" in proc.stderr
    assert "To append to your config use +" not in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()


def test_group_null_names_the_tilde_spelling_instead_of_a_traceback(tmp_path):
    proc = run_cli("preset=null", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "`preset=null` cannot remove the preset group" in proc.stderr
    assert "`~preset`" in proc.stderr
    assert not (tmp_path / "run").exists()
