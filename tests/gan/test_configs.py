"""The GAN typed configs (rl_lab/gan/configs.py): the single source of the ``trainer=gan``
defaults, the model's and the task's own keys, their validation rules and their schema
listing."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from rl_lab import schema as schema_cli
from rl_lab.config import schema
from rl_lab.config_dict import flatten
from rl_lab.errors import ConfigError
from rl_lab.gan.configs import (
    GAN_MODEL_RULES,
    GAN_RUN_RULES,
    GAN_TRAINER_RULES,
    MAX_SAMPLES,
    DCGANModelConfig,
    GANRunConfig,
    GANTrainerConfig,
)
from rl_lab.gan.feature_classifier import classifier_settings
from rl_lab.gan.task import validate_config


def test_the_composed_gan_trainer_is_the_config_class(compose_cfg):
    cfg = compose_cfg("task=gan")
    assert OmegaConf.to_container(cfg.trainer) == schema(GANTrainerConfig)
    assert cfg.trainer.generator_optimizer.betas == [0.5, 0.999]  # DCGAN's Adam


def test_every_gan_trainer_key_has_a_rule():
    keys = {rule.key for rule in GAN_TRAINER_RULES}
    assert keys == {f"trainer.{key}" for key in flatten(schema(GANTrainerConfig))}


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("trainer.batch_size=1", "trainer.batch_size"),
        ("trainer.real_label=0.3", "trainer.real_label"),
        ("trainer.discriminator_optimizer.name=lion", "trainer.discriminator_optimizer.name"),
        ("trainer.generator_optimizer.clip_value=0", "trainer.generator_optimizer.clip_value"),
        ("trainer.schedule.name=plateau", "trainer.schedule.name"),
    ],
)
def test_bad_gan_trainer_values_are_refused_by_the_derived_rules(compose_cfg, override, named):
    with pytest.raises(ConfigError, match=named):
        validate_config(compose_cfg("task=gan", override))


def test_the_schema_cli_lists_the_gan_trainer(capsys):
    assert schema_cli.main(["trainer=gan"]) == 0
    out = capsys.readouterr().out
    for key in flatten(schema(GANTrainerConfig)):
        assert f"trainer.{key}" in out


# ------------------------------------------------------------------- the task and the model
def test_the_gan_run_keys_are_the_run_config_class(compose_cfg, capsys):
    cfg = compose_cfg("task=gan")
    defaults = flatten(schema(GANRunConfig))
    composed = flatten(OmegaConf.to_container(cfg))
    assert {key: composed[key] for key in defaults} == defaults
    free_form = ("metrics.classifier.model", "metrics.classifier.trainer")  # checked when used
    expected = {"mode", *(k for k in defaults if not k.startswith(free_form))}
    assert {rule.key for rule in GAN_RUN_RULES} == expected
    assert schema_cli.main(["task=gan"]) == 0
    out = capsys.readouterr().out
    assert "metrics.classifier.min_steps" in out and "interpolation_steps" in out


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("n=0", "`n=0`"),
        (f"n={MAX_SAMPLES + 1}", "`n="),
        ("interpolation_steps=1", "interpolation_steps"),
        ("metrics.samples=5", "metrics.samples"),
        ("model.discriminator.conditioning=concat", "model.discriminator.conditioning"),
        ("model.generator.activation=tanh", "model.generator.activation"),
        ("format=gif", "`format='gif'`"),
    ],
)
def test_bad_gan_task_and_model_values_are_refused(compose_cfg, override, named):
    with pytest.raises(ConfigError, match=named):
        validate_config(compose_cfg("task=gan", override))


def test_the_composed_gan_models_are_the_config_class(compose_cfg):
    dcgan = OmegaConf.to_container(compose_cfg("task=gan", "model=dcgan").model)
    assert dcgan == schema(DCGANModelConfig)
    cgan = OmegaConf.to_container(compose_cfg("task=gan", "model=cgan").model)
    assert cgan == {**dcgan, "name": "cgan", "conditional": True}  # cgan.yaml: its differences
    assert {rule.key for rule in GAN_MODEL_RULES} == {
        f"model.{key}" for key in flatten(schema(DCGANModelConfig))
    }


def test_the_metric_classifier_can_be_named_from_the_model_group(compose_cfg):
    model, _ = classifier_settings(compose_cfg("task=gan", "metrics.classifier.model=lenet"))
    assert model.name == "lenet" and model.type == "cnn" and model.kernel_size == 5
    with pytest.raises(ConfigError, match=r"available: cnn, lenet, lstm, mlp\)"):
        classifier_settings(compose_cfg("task=gan", "metrics.classifier.model=dcgan"))
