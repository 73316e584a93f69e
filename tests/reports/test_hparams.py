"""The TensorBoard HPARAMS view of a sweep (rl_lab.reports.hparams)."""

from pathlib import Path

from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.plugins.hparams import api_pb2, metadata

from rl_lab.reports.summary import summarize
from tests.reports.conftest import DQN, DQN_RETURNS, PPO, PPO_RETURNS


def _hparams_events(view: Path) -> dict[str, dict[str, object]]:
    """Per run folder of the HPARAMS view: its hparams plugin payloads and scalars."""
    runs: dict[str, dict[str, object]] = {}
    for path in view.glob("**/events.out.tfevents.*"):
        run = runs.setdefault(str(path.parent.relative_to(view)), {})
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                if plugin == metadata.PLUGIN_NAME:
                    run[value.tag] = value.metadata.plugin_data.content
                elif plugin == "scalars":  # the loader turns simple values into tensors
                    run[value.tag] = value.tensor.float_val[0]
    return runs


def test_hparams_view_has_every_job_with_the_same_keys(sweep: Path):
    summarize(sweep)
    runs = _hparams_events(sweep / "hparams")
    experiment = metadata.parse_experiment_plugin_data(runs.pop(".")[metadata.EXPERIMENT_TAG])
    keys = [info.name for info in experiment.hparam_infos]
    # Union of both agents' keys; keys that differ between jobs come first.
    assert set(keys) == {
        "seed",
        "agent.name",
        "agent.learning_rate",
        "agent.exploration_fraction",
        "agent.n_epochs",
        "agent.hidden_sizes",
    }
    assert set(keys[:4]) == {"seed", "agent.name", "agent.exploration_fraction", "agent.n_epochs"}
    types = {info.name: info.type for info in experiment.hparam_infos}
    assert types["agent.learning_rate"] == api_pb2.DATA_TYPE_FLOAT64
    assert types["agent.n_epochs"] == api_pb2.DATA_TYPE_STRING  # DQN jobs lack it: "n/a"
    assert {m.name.tag for m in experiment.metric_infos} == {
        "objective",
        "run/wall_time_s",
        "run/sps",
    }

    # 7 jobs have a config (3 + 3 completed, 1 failed); the one that has not started has none.
    assert len(runs) == 7
    statuses, groups = [], set()
    for run in runs.values():
        start = metadata.parse_session_start_info_plugin_data(run[metadata.SESSION_START_INFO_TAG])
        assert set(start.hparams) == set(keys)
        groups.add(start.group_name)
        end = metadata.parse_session_end_info_plugin_data(run[metadata.SESSION_END_INFO_TAG])
        statuses.append(end.status)
        if end.status == api_pb2.STATUS_SUCCESS:
            assert run["objective"] in {*DQN_RETURNS.values(), *PPO_RETURNS.values()}
        else:
            assert "objective" not in run
    assert statuses.count(api_pb2.STATUS_FAILURE) == 1
    assert groups == {DQN, PPO}

    summarize(sweep)  # a second summary replaces the view instead of adding to it
    assert len(list((sweep / "hparams").glob("**/events.out.tfevents.*"))) == 8
