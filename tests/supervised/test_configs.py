"""The trainer's typed config (rl_lab/supervised/configs.py): the single source of the
``trainer=default`` defaults, its validation rules and its schema listing."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from rl_lab import schema as schema_cli
from rl_lab.config import add_missing_settings, schema
from rl_lab.config_dict import flatten
from rl_lab.errors import ConfigError
from rl_lab.gan.feature_classifier import classifier_settings
from rl_lab.supervised.configs import OPTIMIZER_NAMES, TRAINER_RULES, TrainerConfig
from rl_lab.supervised.optimizers import OPTIMIZERS
from rl_lab.supervised.task import validate_config


def test_the_composed_trainer_is_the_config_class(compose_cfg):
    cfg = compose_cfg("task=supervised")
    composed = OmegaConf.to_container(cfg.trainer)  # interpolations unresolved, as declared
    assert composed == schema(TrainerConfig)


def test_every_trainer_key_has_a_rule_or_a_cross_field_check():
    keys = {rule.key for rule in TRAINER_RULES}
    for key in flatten(schema(TrainerConfig)):
        crossed = key in ("early_stopping.monitor", "early_stopping.mode")
        assert (f"trainer.{key}" in keys) != crossed, key


def test_the_optimizer_choices_are_the_registry():
    assert set(OPTIMIZER_NAMES) == set(OPTIMIZERS)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("trainer.epochs=0", "trainer.epochs"),
        ("trainer.optimizer.name=lion", "trainer.optimizer.name"),
        ("trainer.augment.shift=9", "trainer.augment.shift"),
        ("trainer.grad_clip_norm=0", "trainer.grad_clip_norm"),
        ("trainer.monitor=loss", "trainer.monitor"),
    ],
)
def test_bad_trainer_values_are_refused_by_the_derived_rules(compose_cfg, override, named):
    with pytest.raises(ConfigError, match=named):
        validate_config(compose_cfg("task=supervised", override))


def test_the_gan_metrics_classifier_trains_with_the_same_defaults(compose_cfg):
    cfg = compose_cfg("task=gan")
    _, run_cfg = classifier_settings(cfg)
    defaults = OmegaConf.create({"trainer": schema(TrainerConfig)})
    merged = OmegaConf.merge(defaults, {"trainer": cfg.metrics.classifier.get("trainer") or {}})
    OmegaConf.resolve(merged)
    assert OmegaConf.to_container(run_cfg.trainer) == OmegaConf.to_container(merged.trainer)


def test_the_schema_cli_lists_the_trainer(capsys):
    assert schema_cli.main(["trainer=default"]) == 0
    out = capsys.readouterr().out
    for key in flatten(schema(TrainerConfig)):
        assert f"trainer.{key}" in out
    assert schema_cli.main([]) == 0
    assert "trainer=default" in capsys.readouterr().out


def test_a_saved_trainer_gets_the_settings_added_since_at_their_defaults(compose_cfg):
    saved = OmegaConf.create(OmegaConf.to_container(compose_cfg("task=supervised")))
    del saved.trainer.augment.shift, saved.trainer.tensorboard
    saved.trainer.epochs = 3
    added = add_missing_settings(saved, "trainer", TrainerConfig)
    assert sorted(added) == ["augment.shift", "tensorboard"]
    assert saved.trainer.augment.shift == 0 and saved.trainer.tensorboard.graph is True
    assert saved.trainer.epochs == 3  # what was saved stays
    assert add_missing_settings(saved, "trainer", TrainerConfig) == []
