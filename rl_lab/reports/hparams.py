"""One TensorBoard HPARAMS view for a whole sweep: every job, the same hyperparameter keys.

Each run already writes its hyperparameters into its own ``tb/``. Pointed at a sweep, TensorBoard
takes the column list (the "experiment") from one arbitrary run, so a key that only some jobs
have (``agent.n_epochs`` in a DQN + PPO sweep) is missing, and failed or unfinished jobs are not
shown at all. :func:`write_hparams_view` writes a separate log directory instead::

    OUT/hparams/                      the experiment: the union of all jobs' keys, metrics
    OUT/hparams/<job>/                one session per job: its values for every key, its status
                                      (success, failure, running) and its final metrics

``tensorboard --logdir OUT/hparams`` then shows one row per job, grouped by configuration (the
seeds of one configuration form one session group). Keys whose values differ between jobs come
first and are flagged as differing.

Values are made comparable across jobs: a key that is a number in every job that has it stays a
number; otherwise (strings, or missing from some jobs) it becomes a string and a missing value
reads ``n/a``. :func:`hparams_sessions` makes the sessions of a summarised sweep: each job's
config and final metrics.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from rl_lab.config_dict import config_dict
from rl_lab.reports.runs import RunRecord, relative_name, run_objective

#: Folder of the view inside the summary's output folder.
VIEW_DIR = "hparams"
#: Value shown for a key a job does not have.
MISSING = "n/a"
_STATUS = {
    "completed": api_pb2.STATUS_SUCCESS,
    "failed": api_pb2.STATUS_FAILURE,
    "incomplete": api_pb2.STATUS_RUNNING,
}


@dataclass(frozen=True)
class Session:
    """One job of the sweep as a row of the HPARAMS table.

    Args:
        name: Unique name of the job (its directory relative to the sweep), used as the run name.
        group: The configuration it belongs to (its seeds share it).
        hparams: Flat hyperparameters, ``{"agent.learning_rate": 0.001, ...}``.
        status: ``completed``, ``failed`` or ``incomplete`` (running, interrupted).
        metrics: Final metrics by tag; non-finite values are not written.
    """

    name: str
    group: str
    hparams: Mapping[str, Any]
    status: str
    metrics: Mapping[str, float] = field(default_factory=dict)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def harmonize(hparams: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Give every job the same keys with one type per key.

    Returns:
        ``(rows, keys)``: one dict per input with every key of the union, and the keys in display
        order (differing keys first, each part sorted). Numbers stay numbers (as float) when every
        job has the key and it is numeric in all; bools stay bools likewise; anything else becomes
        a string, with :data:`MISSING` for a job that lacks the key.
    """
    keys = sorted({key for row in hparams for key in row})
    rows: list[dict[str, Any]] = [{} for _ in hparams]
    differing: list[str] = []
    constant: list[str] = []
    for key in keys:
        values = [row.get(key, None) if key in row else MISSING for row in hparams]
        present = [row[key] for row in hparams if key in row]
        complete = len(present) == len(hparams)
        if complete and all(isinstance(v, bool) for v in present):
            converted: list[Any] = list(present)
        elif complete and all(_is_number(v) for v in present):
            converted = [float(v) for v in present]
        else:
            converted = [v if isinstance(v, str) else str(v) for v in values]
        for row, value in zip(rows, converted, strict=True):
            row[key] = value
        (differing if len({repr(v) for v in converted}) > 1 else constant).append(key)
    return rows, differing + constant


def _plugin_summary(tag: str, data: plugin_data_pb2.HParamsPluginData) -> Summary:
    data.version = metadata.PLUGIN_DATA_VERSION
    plugin = SummaryMetadata.PluginData(
        plugin_name=metadata.PLUGIN_NAME, content=data.SerializeToString()
    )
    return Summary(value=[Summary.Value(tag=tag, metadata=SummaryMetadata(plugin_data=plugin))])


def _set_value(target: Any, value: Any) -> None:
    # target: a google.protobuf.Value inside a map field
    if isinstance(value, bool):
        target.bool_value = value
    elif _is_number(value):
        target.number_value = float(value)
    else:
        target.string_value = str(value)


def experiment_summary(
    rows: Sequence[Mapping[str, Any]], keys: Sequence[str], metric_tags: Sequence[str]
) -> Summary:
    """The experiment: one HParamInfo per key (typed, with its values if discrete), the metrics."""
    infos = []
    for key in keys:
        values = [row[key] for row in rows]
        info = api_pb2.HParamInfo(name=key, differs=len({repr(v) for v in values}) > 1)
        if all(isinstance(v, bool) for v in values):
            info.type = api_pb2.DATA_TYPE_BOOL
            for value in sorted(set(values)):
                info.domain_discrete.values.add().bool_value = value
        elif all(_is_number(v) for v in values):
            info.type = api_pb2.DATA_TYPE_FLOAT64
        else:
            info.type = api_pb2.DATA_TYPE_STRING
            for value in sorted(set(values)):
                info.domain_discrete.values.add().string_value = value
        infos.append(info)
    metrics = [api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag)) for tag in metric_tags]
    experiment = api_pb2.Experiment(hparam_infos=infos, metric_infos=metrics)
    return _plugin_summary(
        metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=experiment)
    )


def session_summaries(session: Session, hparams: Mapping[str, Any]) -> list[Summary]:
    """Session start (group, values) and, for a finished job, session end (its status)."""
    start = plugin_data_pb2.SessionStartInfo(group_name=session.group)
    for key, value in hparams.items():
        _set_value(start.hparams[key], value)
    summaries = [
        _plugin_summary(
            metadata.SESSION_START_INFO_TAG,
            plugin_data_pb2.HParamsPluginData(session_start_info=start),
        )
    ]
    if session.status in ("completed", "failed"):
        end = plugin_data_pb2.SessionEndInfo(status=_STATUS[session.status])
        summaries.append(
            _plugin_summary(
                metadata.SESSION_END_INFO_TAG,
                plugin_data_pb2.HParamsPluginData(session_end_info=end),
            )
        )
    return summaries


def _write(log_dir: Path, summaries: Sequence[Summary]) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(log_dir))
    for summary in summaries:
        writer.add_event(Event(wall_time=time.time(), step=0, summary=summary))
    writer.close()


def _clear(view_dir: Path) -> None:
    # Only event files: a summary rewritten while the sweep runs must not add duplicate sessions,
    # and nothing else in the folder is touched.
    for path in view_dir.glob("**/events.out.tfevents.*"):
        path.unlink()


def _run_name(index: int, name: str) -> str:
    return f"{index:04d}_" + re.sub(r"[^A-Za-z0-9_.=-]+", "_", name).strip("_")[:120]


def write_hparams_view(out_dir: Path, sessions: Sequence[Session]) -> Path:
    """Write the HPARAMS view of ``sessions`` into ``out_dir/hparams``; returns that folder.

    Event files a previous call wrote there are replaced.
    """
    view_dir = Path(out_dir) / VIEW_DIR
    view_dir.mkdir(parents=True, exist_ok=True)
    _clear(view_dir)
    rows, keys = harmonize([s.hparams for s in sessions])
    metric_tags = sorted({tag for s in sessions for tag in s.metrics})
    _write(view_dir, [experiment_summary(rows, keys, metric_tags)])
    for index, (session, row) in enumerate(zip(sessions, rows, strict=True)):
        summaries = session_summaries(session, {key: row[key] for key in keys})
        summaries += [
            Summary(value=[Summary.Value(tag=tag, simple_value=float(value))])
            for tag, value in session.metrics.items()
            if math.isfinite(value)
        ]
        _write(view_dir / _run_name(index, session.name), summaries)
    return view_dir


def run_hparams(run_dir: Path) -> dict[str, Any]:
    """Flat hyperparameters of a run: its config.yaml (resolved), else Hydra's job config."""
    # tracking imports torch: only load it once a summary has runs to show
    from rl_lab.tracking import flatten_hparams

    for path in (run_dir / "config.yaml", run_dir / ".hydra" / "config.yaml"):
        if path.is_file():
            try:
                loaded = config_dict(OmegaConf.load(path), resolve=False)
            except Exception:  # partial, unparsable or not a mapping: try the next one
                continue
            return flatten_hparams(loaded)
    return {}


def hparams_sessions(groups: Mapping[str, Sequence[RunRecord]], run_root: Path) -> list[Session]:
    """One :class:`Session` per run, grouped by configuration, with its final metrics.

    A job whose config cannot be read yet (its directory was just created) is left out: it has
    no values to show, and an empty row would turn every numeric column into text.
    """
    sessions = []
    for label, members in sorted(groups.items()):
        for run in sorted(members, key=lambda r: str(r.path)):
            hparams = run_hparams(run.path)
            if not hparams:
                continue
            metrics = {
                "objective": run_objective(run),
                "run/wall_time_s": run.wall_time_s,
                "run/sps": run.sps,
            }
            sessions.append(
                Session(
                    name=relative_name(run.path, run_root),
                    group=label,
                    hparams=hparams,
                    status=run.state,
                    metrics=metrics if run.state == "completed" else {},
                )
            )
    return sessions
