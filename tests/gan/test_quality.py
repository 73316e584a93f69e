import json
import logging

import pytest
import torch
from omegaconf import OmegaConf

from rl_lab.gan.feature_classifier import FeatureClassifier, load_or_train
from rl_lab.gan.models import Generator
from rl_lab.gan.quality import SampleQuality, build_quality
from tests.gan.conftest import TINY_CLASSIFIER, TINY_GAN


@pytest.fixture(scope="module")
def quality_cfg(classifier_cache):
    from hydra import compose, initialize_config_dir

    import rl_lab.__main__ as entry

    overrides = [
        *TINY_GAN,
        f"metrics.classifier.cache_dir={classifier_cache}",
        *TINY_CLASSIFIER,
    ]
    with initialize_config_dir(config_dir=entry.CONFIG_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def test_classifier_is_cached_with_its_accuracy(quality_cfg, digits, classifier_cache) -> None:
    first = load_or_train(quality_cfg, digits, "cpu")
    infos = list(classifier_cache.glob("digits_8px_*.json"))
    assert len(infos) == 1 and (classifier_cache / infos[0].with_suffix(".pt").name).is_file()
    info = json.loads(infos[0].read_text())
    assert (
        info["test_accuracy"] == pytest.approx(first.test_accuracy) and info["test_accuracy"] > 0.8
    )
    mtime = infos[0].stat().st_mtime_ns
    second = load_or_train(quality_cfg, digits, "cpu")  # from the cache: not retrained
    assert infos[0].stat().st_mtime_ns == mtime
    features, predicted = second(digits.test.images)
    assert features.shape == (len(digits.test), second.feature_dim) and second.feature_dim == 32
    assert (predicted == digits.test.labels).float().mean() == pytest.approx(info["test_accuracy"])


def test_a_corrupt_cache_entry_is_retrained(quality_cfg, digits, tmp_path, caplog) -> None:
    settings = {"cache_dir": str(tmp_path), "min_steps": 30}  # accuracy does not matter here
    cfg = OmegaConf.merge(quality_cfg, {"metrics": {"classifier": settings}})
    load_or_train(cfg, digits, "cpu")
    weights = next(tmp_path.glob("*.pt"))
    weights.write_bytes(b"not a checkpoint")
    with caplog.at_level(logging.WARNING):
        classifier = load_or_train(cfg, digits, "cpu")
    assert "unusable" in caplog.text and "training a new one" in caplog.text
    assert isinstance(classifier, FeatureClassifier)
    load_or_train(cfg, digits, "cpu")  # the rewritten entry loads


def test_settings_change_the_cache_key(quality_cfg, digits, classifier_cache) -> None:
    load_or_train(quality_cfg, digits, "cpu")
    other = OmegaConf.merge(quality_cfg, {"dataset": {"image_size": 16}})
    assert not list(classifier_cache.glob("digits_16px_*.json"))
    from rl_lab.gan.feature_classifier import cache_key, classifier_settings

    model, run_cfg = classifier_settings(quality_cfg)
    keys = {
        cache_key(c.dataset, model, run_cfg.trainer, size)
        for c, size in ((quality_cfg, 8), (other, 16))
    }
    assert len(keys) == 2


def test_real_images_score_near_zero_and_noise_far(quality_cfg, digits) -> None:
    quality = build_quality(quality_cfg, digits, "cpu")
    assert quality.frechet_distance_to(digits.test.images) == pytest.approx(0.0, abs=1e-6)
    floor = quality.frechet_distance_to(digits.train.images)
    torch.manual_seed(0)
    untrained = Generator((1, 8, 8), latent_dim=8, width=8, num_classes=10)
    scores = quality.evaluate(untrained)
    assert scores["val/frechet_distance"] > 5 * floor
    assert 0 <= scores["val/label_accuracy"] <= 1 and scores["val/label_entropy"] >= 0


def test_unlabelled_data_falls_back_to_pixels(quality_cfg) -> None:
    images = torch.rand(50, 1, 8, 8)
    quality = SampleQuality(None, images, samples=40, num_classes=None)
    assert quality.feature_space == "pixels"
    scores = quality.evaluate(Generator((1, 8, 8), latent_dim=4, width=4))
    assert set(scores) == {"val/frechet_distance", "val/mean_pairwise_distance"}


def test_an_unwritable_cache_only_warns(quality_cfg, digits, tmp_path, caplog) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    settings = {"cache_dir": str(blocker / "cache"), "min_steps": 30}
    cfg = OmegaConf.merge(quality_cfg, {"metrics": {"classifier": settings}})
    with caplog.at_level(logging.WARNING):
        classifier = load_or_train(cfg, digits, "cpu")
    assert "could not be cached" in caplog.text
    assert classifier.feature_dim == 32
