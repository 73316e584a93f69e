"""The supervised typed configs (rl_lab/supervised/configs.py): the single source of the
``trainer=default`` defaults, the classifier models' and the task's own keys, their validation
rules and their schema listing."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import torch
from omegaconf import OmegaConf

from rl_lab import schema as schema_cli
from rl_lab.config import ACTIVATION_CHOICES, INIT_CHOICES, add_missing_settings, schema
from rl_lab.config_dict import CONF_DIR, flatten, group_option, load_mapping
from rl_lab.errors import ConfigError
from rl_lab.gan.configs import DCGANModelConfig
from rl_lab.gan.feature_classifier import classifier_settings
from rl_lab.nets.activations import ACTIVATIONS
from rl_lab.nets.init import INIT_SCHEMES
from rl_lab.supervised.configs import (
    COMMON_MODEL_KEYS,
    MODEL_CONFIGS,
    OPTIMIZER_NAMES,
    SUGGESTIONS,
    SUPERVISED_RUN_RULES,
    TRAINER_RULES,
    CNNModelConfig,
    LRFindConfig,
    MLPModelConfig,
    SupervisedRunConfig,
    TrainerConfig,
)
from rl_lab.supervised.models import MODEL_TYPES, build_classifier, validate_model_config
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


# ------------------------------------------------------------------ the task and the models
def test_the_supervised_run_keys_are_the_run_config_class(compose_cfg, capsys):
    cfg = compose_cfg("task=supervised")
    defaults = flatten(schema(SupervisedRunConfig))
    composed = flatten(OmegaConf.to_container(cfg))
    assert {key: composed[key] for key in defaults} == defaults
    assert {rule.key for rule in SUPERVISED_RUN_RULES} == {"mode", *defaults}
    assert set(SUGGESTIONS) == set(
        LRFindConfig.__dataclass_fields__["suggestion"].metadata["choices"]
    )
    assert schema_cli.main(["task=supervised"]) == 0
    out = capsys.readouterr().out
    assert "lr_find.iterations" in out and "torch_threads" in out  # its keys, then the shared ones


@pytest.mark.parametrize(
    ("override", "named"),
    [("lr_find.iterations=5", "lr_find.iterations"), ("lr_find.suggestion=x", "suggestion")],
)
def test_bad_lr_find_values_are_refused(compose_cfg, override, named):
    with pytest.raises(ConfigError, match=named):
        validate_config(compose_cfg("task=supervised", override))


def test_the_zoo_names_of_the_model_configs_are_the_zoo_s():
    assert set(ACTIVATION_CHOICES) == set(ACTIVATIONS)
    assert set(INIT_CHOICES) == set(INIT_SCHEMES)
    assert set(MODEL_TYPES) == set(MODEL_CONFIGS)


@pytest.mark.parametrize("kind", sorted(MODEL_CONFIGS))
def test_a_classifier_class_takes_its_config_s_fields_with_the_same_defaults(kind):
    cls, config_cls = MODEL_TYPES[kind]
    params = inspect.signature(cls).parameters
    fields = {
        f.name: getattr(config_cls(), f.name)
        for f in dataclasses.fields(config_cls)
        if f.name not in COMMON_MODEL_KEYS
    }
    assert set(params) - {"in_shape", "num_classes"} == set(fields)
    for name, value in fields.items():
        assert params[name].default == (tuple(value) if isinstance(value, list) else value), name


@pytest.mark.parametrize("name", ["mlp", "cnn", "lstm"])
def test_a_composed_model_is_its_config_class(compose_cfg, name):
    cfg = compose_cfg("task=supervised", f"model={name}")
    assert OmegaConf.to_container(cfg.model) == schema(MODEL_CONFIGS[name])


def test_lenet_is_written_as_its_differences_from_cnn(compose_cfg):
    lenet = OmegaConf.to_container(compose_cfg("task=supervised", "model=lenet").model)
    cnn = schema(CNNModelConfig)
    assert set(lenet) == set(cnn)  # every key of the cnn, from its config class
    file = load_mapping(CONF_DIR / "model" / "lenet.yaml")
    assert list(file.defaults) == ["cnn", "_self_"]
    assert all(file[key] != cnn[key] for key in file if key != "defaults"), "a value restated"
    assert group_option("model", "lenet", MODEL_CONFIGS) == lenet  # outside Hydra too


def test_a_bad_model_value_or_key_is_refused_by_the_config_class(compose_cfg):
    with pytest.raises(ConfigError, match=r"model.kernel_size=16.*Keys of this type"):
        validate_config(compose_cfg("task=supervised", "model=cnn", "model.kernel_size=16"))
    with pytest.raises(ConfigError, match="unknown key `model.widths`"):
        validate_model_config({**schema(MLPModelConfig), "widths": [3]})


def test_a_saved_model_without_a_newer_key_builds_with_its_default():
    spec = schema(MLPModelConfig)
    del spec["dropout"]  # written before the key existed
    model = build_classifier(spec, (1, 8, 8), num_classes=3)
    assert not any(isinstance(m, torch.nn.Dropout) for m in model.modules())


def test_the_schema_cli_lists_the_models(capsys):
    for name, cls in {**MODEL_CONFIGS, "dcgan": DCGANModelConfig}.items():
        assert schema_cli.main([f"model={name}"]) == 0
        out = capsys.readouterr().out
        for key in flatten(schema(cls)):
            assert f"model.{key}" in out
