import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rl_lab import checkpoint
from rl_lab.app import run as app_run
from rl_lab.errors import CheckpointError, ConfigError
from rl_lab.gan import task
from rl_lab.gan.configs import MAX_SAMPLES
from tests.conftest import run_cli
from tests.gan.conftest import TINY_CLASSIFIER, TINY_GAN


@pytest.fixture(scope="module")
def trained_cgan(tmp_path_factory, classifier_cache):
    """A tiny conditional GAN trained for 2 epochs with metrics, through the app."""
    from hydra import compose, initialize_config_dir

    import rl_lab.__main__ as entry

    run_dir = tmp_path_factory.mktemp("cgan_run")
    overrides = [
        *TINY_GAN,
        "model=cgan",
        "metrics.enabled=true",
        "metrics.every=1",
        f"metrics.classifier.cache_dir={classifier_cache}",
        *TINY_CLASSIFIER,
    ]
    with initialize_config_dir(config_dir=entry.CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    torch.set_num_threads(1)
    results = app_run(cfg, run_dir, overrides)
    return run_dir, results


def test_training_writes_results_checkpoints_samples_and_tensorboard(trained_cgan) -> None:
    run_dir, results = trained_cgan
    assert results["status"] == "completed" and results["task"] == "gan"
    assert results["objective"] == results["metrics"]["frechet_distance"] > 0
    assert 0 <= results["metrics"]["label_accuracy"] <= 1
    assert results["metrics"]["feature_space"] == "classifier"
    assert [h["epoch"] for h in results["history"] if "val/frechet_distance" in h] == [1, 2]
    assert (run_dir / "checkpoints" / "last.pt").is_file()
    assert (run_dir / "checkpoints" / "best.pt").is_file()
    assert (run_dir / "samples" / "samples.png").is_file()
    events = EventAccumulator(str(run_dir / "tb")).Reload()
    scalars = set(events.Tags()["scalars"])
    assert {
        "losses/discriminator",
        "losses/generator",
        "losses/D(x)",
        "losses/D(G(z))",
        "val/frechet_distance",
        "val/label_accuracy",
    } <= scalars
    grids = events.Images("samples/fixed_noise")
    assert [g.step for g in grids] == [1, 2]
    assert grids[0].height > 10 * 8 * 8  # one row per class, 8x8 images enlarged 8 times


def test_sample_command_writes_the_contract(trained_cgan, tmp_path) -> None:
    run_dir, _ = trained_cgan
    out = tmp_path / "sample"
    proc = run_cli(
        "task=gan",
        "mode=sample",
        f"checkpoint={run_dir / 'checkpoints' / 'last.pt'}",
        "n=8",
        "label=3",
        "seed=1",
        "torch_threads=1",
        f"hydra.run.dir={out}",
    )
    assert proc.returncode == 0, proc.stderr
    with np.load(out / "samples.npz") as data:
        images, labels = data["images"], data["labels"]
    assert images.dtype == np.float32 and images.shape == (8, 8, 8)
    assert images.min() >= 0 and images.max() <= 1
    assert labels.tolist() == [3] * 8
    assert Image.open(out / "samples.png").size[0] > 0
    assert Image.open(out / "interpolation.png").size[0] > 0


def test_eval_mode_scores_a_checkpoint(trained_cgan, compose_cfg, tmp_path, classifier_cache):
    run_dir, results = trained_cgan
    cfg = compose_cfg(
        "task=gan",
        "mode=eval",
        f"checkpoint={run_dir / 'checkpoints' / 'last.pt'}",
        "metrics.samples=200",
        f"metrics.classifier.cache_dir={classifier_cache}",
        *TINY_CLASSIFIER,
    )
    task.validate_config(cfg)
    evaluated = task.run(cfg, tmp_path, "cpu")
    assert evaluated["objective"] == pytest.approx(results["objective"], rel=1e-6)


def test_resume_continues_from_last_checkpoint(gan_cfg, tmp_path) -> None:
    first = gan_cfg("trainer.epochs=1")
    app_run(first, tmp_path, [])
    with pytest.raises(ConfigError, match="already holds a run"):
        app_run(gan_cfg("trainer.epochs=1"), tmp_path, [])
    resumed = gan_cfg("resume=true", "trainer.epochs=2")
    results = app_run(resumed, tmp_path, ["resume=true", "trainer.epochs=2"])
    assert results["epochs_run"] == 2 and len(results["history"]) == 2
    assert checkpoint.load(tmp_path / "checkpoints" / "last.pt")["state"]["epoch"] == 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["trainer=default"], "adversarial trainer"),
        (["mode=sample"], "needs a checkpoint"),
        (["trainer.real_label=0.2"], "real_label"),
        (["model.discriminator.conditioning=concat"], "conditioning"),
        (["trainer.generator_optimizer.decay=0.1", "trainer.schedule.name=cosine"], "decay"),
        (["trainer.stop_at.value=5"], "metrics.enabled=false measures none"),
        (
            [
                "model=dcgan",
                "metrics.enabled=true",
                "trainer.stop_at.monitor=val/label_accuracy",
                "trainer.stop_at.value=0.9",
            ],
            "needs a conditional GAN",
        ),
        (["trainer.stop_at.monitor=val/loss"], "trainer.stop_at.monitor"),
    ],
)
def test_bad_config_is_one_clear_error(gan_cfg, overrides, message) -> None:
    with pytest.raises(ConfigError, match=message):
        task.validate_config(gan_cfg(*overrides))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("n=100000000", r"`n=100000000` is invalid: expected an integer >= 1 and <= 10000"),
        ("n=0", r"`n=0` is invalid"),
        ("interpolation_steps=100000000", r"`interpolation_steps=100000000` is invalid"),
    ],
)
def test_sample_counts_are_bounded_before_any_work(gan_cfg, tmp_path, override, message) -> None:
    # the bound is checked first: the missing checkpoint is not even looked at
    cfg = gan_cfg("mode=sample", f"checkpoint={tmp_path / 'none.pt'}", override)
    with pytest.raises(ConfigError, match=message):
        task.validate_config(cfg)
    task.validate_config(gan_cfg(f"n={MAX_SAMPLES}"))  # the bound itself is allowed


def test_a_classifier_model_is_not_a_gan(compose_cfg) -> None:
    with pytest.raises(ConfigError, match="model=cnn is not a GAN model"):
        task.validate_config(compose_cfg("task=gan", "model=cnn"))


def test_sample_label_checks(trained_cgan, gan_cfg, tmp_path) -> None:
    run_dir, _ = trained_cgan
    cgan = str(run_dir / "checkpoints" / "last.pt")
    with pytest.raises(ConfigError, match="out of range.*0 to 9"):
        task.validate_config(gan_cfg("mode=sample", f"checkpoint={cgan}", "label=10"))
    task.validate_config(gan_cfg("mode=sample", f"checkpoint={cgan}", "label=9"))

    app_run(gan_cfg("trainer.epochs=1"), tmp_path / "dcgan", [])
    dcgan = str(tmp_path / "dcgan" / "checkpoints" / "last.pt")
    with pytest.raises(ConfigError, match="unconditional"):
        task.validate_config(gan_cfg("mode=sample", f"checkpoint={dcgan}", "label=3"))
    task.validate_config(gan_cfg("mode=sample", f"checkpoint={dcgan}"))


def test_wrong_or_missing_checkpoint(gan_cfg, tmp_path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        task.validate_config(gan_cfg("mode=sample", f"checkpoint={tmp_path / 'none.pt'}"))
    checkpoint.save({"kind": "supervised"}, tmp_path / "clf.pt")
    with pytest.raises(CheckpointError, match="'supervised' checkpoint"):
        task.validate_config(gan_cfg("mode=sample", f"checkpoint={tmp_path / 'clf.pt'}"))


def test_conditional_gan_on_unlabelled_npy_is_refused(gan_cfg, tmp_path) -> None:
    np.save(tmp_path / "images.npy", np.zeros((20, 8, 8), dtype=np.uint8))
    cfg = gan_cfg("model=cgan", "dataset=npy", f"dataset.path={tmp_path / 'images.npy'}")
    with pytest.raises(ConfigError, match="needs labels"):
        task.validate_config(cfg)


@pytest.mark.parametrize(("value", "epochs_run"), [(1e9, 1), (0.0, 3)])
def test_stop_at_ends_the_run_on_the_first_epoch_that_reaches_the_target(
    gan_cfg, tmp_path, classifier_cache, value, epochs_run
) -> None:
    overrides = ["model=cgan", "metrics.enabled=true", "metrics.every=1", *TINY_CLASSIFIER,
                 f"metrics.classifier.cache_dir={classifier_cache}", "trainer.epochs=3",
                 "trainer.stop_at.monitor=val/frechet_distance",
                 f"trainer.stop_at.value={value}"]  # fmt: skip
    results = app_run(gan_cfg(*overrides), tmp_path, overrides)
    # any Fréchet distance is below 1e9 (stops after epoch 1); none is at or below 0
    assert results["epochs_run"] == epochs_run
    if epochs_run == 1:
        assert results["stop_reason"].startswith("stop_at: val/frechet_distance")
    else:
        assert results["stop_reason"] is None
    # the stopping epoch wrote last.pt
    assert checkpoint.load(tmp_path / "checkpoints" / "last.pt")["state"]["epoch"] == epochs_run


def test_the_fast_cgan_preset_measures_every_epoch_and_stops_at_90_percent(
    compose_cfg, tmp_path, classifier_cache
) -> None:
    cfg = compose_cfg("task=gan", "experiment=cgan_fashion_fast")
    assert (cfg.dataset.name, cfg.model.name, cfg.model.conditional) == (
        "fashion_mnist",
        "cgan",
        True,
    )
    assert cfg.trainer.batch_size == 32 and cfg.metrics.every == 1
    assert (cfg.trainer.stop_at.monitor, cfg.trainer.stop_at.value) == ("val/label_accuracy", 0.9)
    task.validate_config(cfg)
    # the same settings on the tiny digits GAN: a run stops at the first epoch at the target
    overrides = [*TINY_GAN, "experiment=cgan_fashion_fast", "dataset=digits", "trainer.epochs=3",
                 "metrics.enabled=true", *TINY_CLASSIFIER, "trainer.stop_at.value=0.0",
                 f"metrics.classifier.cache_dir={classifier_cache}"]  # fmt: skip
    results = app_run(compose_cfg(*overrides), tmp_path, overrides)
    assert results["epochs_run"] == 1 and results["stop_reason"].startswith("stop_at")
