"""load_dataset / validate_dataset_config: names, keys, values, and the datasets' config classes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from rl_lab import schema as schema_cli
from rl_lab.config import schema
from rl_lab.data import DATASETS, load_dataset, validate_dataset_config
from rl_lab.data.configs import DATASET_CONFIGS, SIZE_KEYS, DigitsConfig
from rl_lab.errors import ConfigError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def test_unknown_name_lists_available():
    with pytest.raises(ConfigError, match="Unknown dataset 'cifar'") as err:
        validate_dataset_config({"name": "cifar"})
    for name in DATASETS:
        assert name in str(err.value)


def test_whole_config_instead_of_dataset_node():
    with pytest.raises(ConfigError, match="pass cfg.dataset"):
        load_dataset(OmegaConf.create({"seed": 0, "dataset": {"name": "digits"}}))


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"val_size": -1}, "dataset.val_size=-1"),
        ({"val_size": 2.5}, "dataset.val_size=2.5"),
        ({"test_size": True}, "dataset.test_size=True"),
        ({"test_size": "10%"}, "dataset.test_size='10%'"),
        ({"image_size": 0}, "dataset.image_size=0"),
        ({"split_seed": -3}, "dataset.split_seed=-3"),
        ({"stratify": "yes"}, "dataset.stratify='yes'"),
        ({"val_szie": 0.1}, "unknown key.*dataset.val_szie"),
        ({"val_size": 1000, "test_size": 797}, "leaving no training examples"),
    ],
)
def test_bad_values(overrides, match):
    with pytest.raises(ConfigError, match=match):
        validate_dataset_config({"name": "digits", **overrides})


def test_all_problems_in_one_message():
    with pytest.raises(ConfigError) as err:
        validate_dataset_config({"name": "digits", "val_size": -1, "image_size": "big"})
    assert "dataset.val_size" in str(err.value) and "dataset.image_size" in str(err.value)


def test_integral_float_sizes_become_counts():
    validate_dataset_config({"name": "digits", "val_size": 100.0, "image_size": 28.0})


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_the_composed_dataset_is_its_config_class(name, compose_cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("RL_LAB_DATA_DIR", str(tmp_path))
    node = compose_cfg("task=supervised", f"dataset={name}").dataset
    assert OmegaConf.to_container(node) == schema(DATASET_CONFIGS[name])
    assert node.name == name
    # the defaults a mapping without the key gets: data_dir's interpolation resolved now
    assert OmegaConf.to_container(node, resolve=True) == DATASETS[name].defaults
    if "data_dir" in node:
        assert node.data_dir == str(tmp_path)


def test_every_dataset_key_has_a_rule_or_is_a_split_size():
    for name, kind in DATASETS.items():
        ruled = {rule.key for rule in kind.rules}
        assert ruled | set(SIZE_KEYS) >= set(kind.defaults), name
        assert not ruled & set(SIZE_KEYS)


def test_the_schema_cli_lists_the_datasets(capsys):
    assert schema_cli.main(["dataset=fashion_mnist"]) == 0
    out = capsys.readouterr().out
    assert "dataset.val_selection" in out and "dataset.mirrors" in out


def test_conf_digits_loads_through_dictconfig():
    node = OmegaConf.create(schema(DigitsConfig))
    node.image_size = 28
    validate_dataset_config(node)
    assert load_dataset(node).image_shape == (1, 28, 28)


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_cold_then_cached(tmp_path):
    cfg = {"name": "fashion_mnist", "data_dir": str(tmp_path), "download": False}
    validate_dataset_config(cfg)
    start = time.perf_counter()
    cold = load_dataset(cfg)
    cold_s = time.perf_counter() - start
    start = time.perf_counter()
    warm = load_dataset(cfg)
    warm_s = time.perf_counter() - start
    assert cold.sizes() == {"train": 55000, "val": 5000, "test": 10000}
    assert cold.image_shape == (1, 28, 28) and cold.class_names[9] == "Ankle boot"
    assert torch.bincount(cold.test.labels).tolist() == [1000] * 10
    assert torch.equal(cold.train.images, warm.train.images)
    assert torch.equal(cold.val.labels, warm.val.labels)
    assert len(list((tmp_path / "cache").glob("fashion_mnist-*.npz"))) == 1
    print(f"Fashion-MNIST load: cold {cold_s:.2f} s, warm {warm_s:.2f} s")
