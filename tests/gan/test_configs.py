"""The adversarial trainer's typed config (rl_lab/gan/configs.py): the single source of the
``trainer=gan`` defaults, its validation rules and its schema listing."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from rl_lab import schema as schema_cli
from rl_lab.config import schema
from rl_lab.config_dict import flatten
from rl_lab.errors import ConfigError
from rl_lab.gan.configs import GAN_TRAINER_RULES, GANTrainerConfig
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
