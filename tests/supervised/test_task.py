"""``task=supervised`` through the app: run directory, TensorBoard, eval mode, errors, CLI."""

from __future__ import annotations

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rl_lab import app, checkpoint
from rl_lab.errors import CheckpointError, ConfigError, DatasetError
from tests.conftest import run_cli


def test_training_leaves_a_complete_run_directory(train_run, tmp_path):
    results = train_run(
        tmp_path,
        "model=lenet",
        "trainer.epochs=2",
        "trainer.tensorboard.graph=true",
        "trainer.tensorboard.histograms_every=1",
        "trainer.tensorboard.figures_every=1",
        "trainer.schedule.name=cosine",
    )
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    assert (results["status"], results["task"], results["model"]) == (
        "completed",
        "supervised",
        "lenet",
    )
    assert results["epochs_run"] == 2 and len(results["history"]) == 2
    assert set(results["test"]) == {"accuracy", "loss"}
    assert set(results["val"]) == {"final", "best", "last_epoch"}
    assert results["objective"] == results["val"]["final"]["accuracy"]
    # the timings are recorded (their values are the machine's, not rl_lab's)
    epoch_times = [h["time/epoch_s"] for h in results["history"]]
    assert results["time_per_epoch_s"] == pytest.approx(sum(epoch_times) / len(epoch_times))
    assert results["wall_time_s"] >= 0 and min(epoch_times) >= 0
    assert results["dataset_sizes"] == {"train": 1258, "val": 180, "test": 359}
    for name in ("last.pt", "best.pt"):
        assert checkpoint.load(tmp_path / "checkpoints" / name, kind="supervised")
    assert (tmp_path / "config.yaml").is_file() and (tmp_path / "run_info.json").is_file()

    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"histograms": 0}).Reload()
    tags = events.Tags()
    assert {
        "train/loss",
        "train/accuracy",
        "val/loss",
        "val/accuracy",
        "charts/learning_rate",
        "time/epoch_s",
        "test/accuracy",
    } <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("val/accuracy")] == [1, 2]
    lrs = [e.value for e in events.Scalars("charts/learning_rate")]
    assert lrs[1] < lrs[0]  # cosine decay
    assert "weights/model/output.weight" in tags["histograms"]
    assert "gradients/model/output.weight" in tags["histograms"]
    assert "val/confusion_matrix" in tags["images"]
    assert tags["graph"]
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= set(
        events.PluginTagToContent("hparams")
    )


def test_eval_mode_scores_a_checkpoint_on_the_test_split(train_run, supervised_cfg, tmp_path):
    trained = train_run(tmp_path / "train", "trainer.epochs=2")
    last = tmp_path / "train" / "checkpoints" / "last.pt"
    overrides = ["mode=eval", f"checkpoint={last}"]
    results = app.run(supervised_cfg(*overrides), tmp_path / "eval", overrides)
    assert results["mode"] == "eval" and results["epoch"] == 2
    assert results["test"] == trained["test"]  # the final model is the last epoch's
    assert results["val"] == trained["val"]["final"]
    assert json.loads((tmp_path / "eval" / "results.json").read_text())["test"] == trained["test"]


def test_a_checkpoint_saved_before_the_shared_keys_it_lacks_still_evaluates(
    train_run, supervised_cfg, tmp_path
):
    trained = train_run(tmp_path / "train", "trainer.epochs=1")
    payload = checkpoint.load(tmp_path / "train" / "checkpoints" / "last.pt")
    for key in ("format", "checkpoint"):  # keys added with mode=export and mode=eval
        del payload["config"][key]
    old = checkpoint.save(payload, tmp_path / "old.pt")
    overrides = ["mode=eval", f"checkpoint={old}"]
    results = app.run(supervised_cfg(*overrides), tmp_path / "eval", overrides)
    assert results["test"] == trained["test"]


def test_eval_rejects_missing_and_corrupt_checkpoints(supervised_cfg, tmp_path):
    def evaluate(path):
        overrides = ["mode=eval", f"checkpoint={path}"]
        return app.run(supervised_cfg(*overrides), tmp_path / "eval", overrides)

    with pytest.raises(CheckpointError, match="Checkpoint not found"):
        evaluate(tmp_path / "nope.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="truncated, corrupt"):
        evaluate(corrupt)
    other_kind = checkpoint.save({"kind": "rl"}, tmp_path / "rl.pt")
    with pytest.raises(CheckpointError, match="'rl' checkpoint"):
        evaluate(other_kind)
    with pytest.raises(ConfigError, match="mode=eval needs a checkpoint"):
        app.run(supervised_cfg("mode=eval"), tmp_path / "eval", ["mode=eval"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.optimizer.name=lbfgs", r"optimizer.name='lbfgs'.*sgd, adam, adamw, rmsprop"),
        ("trainer.optimizer.lr=0", r"trainer.optimizer.lr=0.*> 0"),
        ("trainer.epochs=0", r"trainer.epochs=0"),
        ("trainer.batch_size=0", r"trainer.batch_size=0"),
        ("trainer.loss=hinge", r"trainer.loss='hinge'.*cross_entropy, mse"),
        ("trainer.schedule.name=cyclic", r"constant, step, cosine, plateau"),
        ("mode=sample", r"mode='sample'.*train, eval, lr_find"),
        ("trainer.optimizer.nesterov=true", r"nesterov=true applies to sgd only"),
        ("trainer.monitor=val/loss", r"set trainer.monitor_mode=min"),
        ("lr_find.lr_min=100", r"lr_find.lr_min=100.* below lr_find.lr_max"),
        ("model.dropout=1.5", r"model.dropout=1.5"),
        ("dataset.val_size=-1", r"dataset.val_size=-1"),
    ],
)  # fmt: skip
def test_bad_values_are_rejected_before_any_work(supervised_cfg, tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        app.run(supervised_cfg(override), tmp_path, [override])
    assert not (tmp_path / "results.json").exists()


def test_unlabelled_data_is_a_dataset_error(supervised_cfg, tmp_path):
    import numpy as np

    np.save(tmp_path / "images.npy", np.zeros((20, 8, 8), dtype=np.uint8))
    overrides = ["dataset=npy", f"dataset.path={tmp_path / 'images.npy'}"]
    with pytest.raises(DatasetError, match="has no labels"):
        app.run(supervised_cfg(*overrides), tmp_path / "run", overrides)


def test_cli_trains_and_writes_results(tmp_path):
    done = run_cli(
        "task=supervised", "model=mlp", "dataset=digits", "trainer.epochs=1", "progress=false",
        f"hydra.run.dir={tmp_path / 'ok'}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "ok" / "results.json").read_text())
    assert results["status"] == "completed" and results["test"]["accuracy"] > 0.5
    assert "epoch 1/1" in done.stderr


def test_a_bad_value_exits_with_status_2_and_a_failed_results_json(supervised_cfg, tmp_path):
    overrides = ["trainer.optimizer.lr=-1"]
    with pytest.raises(SystemExit) as exit_info:
        app.run_and_report(supervised_cfg(*overrides), tmp_path, overrides, multirun=False)
    assert exit_info.value.code == 2
    failed = json.loads((tmp_path / "results.json").read_text())
    assert failed["status"] == "failed" and "trainer.optimizer.lr" in failed["error"]


PRESETS = [
    "shallow_net",
    "intermediate_net",
    "fashion_mlp_300_100",
    "fashion_lenet",
    "fashion_cnn",
    "fashion_lstm",
    "digits_mlp",
    "digits_cnn",
]


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_composes_and_validates(compose_cfg, preset):
    from rl_lab.supervised.task import validate_config

    cfg = compose_cfg("task=supervised", f"experiment={preset}")
    validate_config(cfg)
    assert cfg.task.run_name == f"{cfg.model.name}_{cfg.dataset.name}"


def test_geron_preset_matches_the_book(compose_cfg):
    cfg = compose_cfg("task=supervised", "experiment=fashion_mlp_300_100")
    assert (cfg.dataset.name, cfg.dataset.val_size, cfg.dataset.val_selection) == (
        "fashion_mnist",
        5000,
        "first",
    )
    assert list(cfg.model.hidden_sizes) == [300, 100] and cfg.model.activation == "relu"
    opt = cfg.trainer.optimizer
    assert (opt.name, opt.lr, opt.momentum, cfg.trainer.batch_size, cfg.trainer.epochs) == (
        "sgd",
        0.01,
        0.0,
        32,
        30,
    )
