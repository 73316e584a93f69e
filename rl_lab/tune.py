"""``python -m rl_lab.tune``: an Optuna hyperparameter search over ordinary rl_lab runs.

Examples::

    python -m rl_lab.tune experiment=ppo_cartpole_search n_trials=40
    python -m rl_lab.tune experiment=ppo_cartpole_search n_trials=40 workers=2 pruner=hyperband
    python -m rl_lab.tune experiment=ppo_cartpole_search n_trials=40 resume=true
    python -m rl_lab.tune experiment=dqn_cartpole_search storage=postgresql://me@db/optuna
    python -m rl_lab.tune +hparams_search=ppo_cartpole agent=ppo total_steps=50000 --write-preset x

Every argument that is not one of the options below is an rl_lab override, composed exactly as
``python -m rl_lab`` composes it; the search space and the study's defaults come from the
config's ``tune`` node (conf/hparams_search/, format in :mod:`rl_lab.sweeps.search`).

Options:
    n_trials=N       trials in the study when the search ends (trials of earlier runs of the
                     same study count; a trial failed by a dead worker does not)
    workers=N        processes on this machine sharing the study (each gets cores // N threads)
    storage=URL      any SQLAlchemy URL (postgresql://user:pw@host/db); default
                     sqlite:///<study dir>/study.db
    study=NAME       the study's name (default: the space's ``tune.study``)
    study_dir=DIR    where the trials' run directories go (default outputs/tune/<study>)
    sampler=tpe|random|cmaes   sampler_seed=N   (default: multivariate TPE, the space's seed)
    pruner=none|median|hyperband|halving        (on every periodic evaluation)
    resume=true      continue a study that must exist (the same study name continues it too)
    --write-preset NAME, write_preset=NAME      also write conf/experiment/NAME.yaml

Each trial runs in this process through :func:`rl_lab.app.run` in
``<study dir>/trial_<number>_<run name>_s<seed>/``; its number is the storage's. Its
``results.json`` gets ``study``, ``trial``, ``sampler``, ``sampler_seed`` and ``params``; a
trial the pruner stops records ``status: pruned``. At the end the best trial (read from the
storage) is written as ``<study dir>/<tune.preset>.yaml``, a ready-to-run experiment preset.
Errors are one paragraph and exit status 2.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, cast

from omegaconf import DictConfig, OmegaConf, open_dict

from rl_lab import app
from rl_lab.config import unknown_keys_message
from rl_lab.config_dict import config_dict
from rl_lab.errors import ConfigError, InterruptedRunError, RLLabError, RunPrunedError
from rl_lab.run_dir import check_creatable, exclusive_lock, read_json, write_json
from rl_lab.sweeps.best_preset import config_difference, group_overrides
from rl_lab.sweeps.search import (
    PRUNERS,
    SAMPLERS,
    Param,
    SearchSpaceError,
    make_pruner,
    make_sampler,
    override_value,
    parse_space,
)
from rl_lab.sweeps.threads import THREAD_ENV_VARS, available_cores, limit_threads
from rl_lab.tracking import RunLogHandler

log = logging.getLogger("rl_lab.tune")

#: ``key=value`` arguments that set the search, not the runs.
OPTIONS = (
    "n_trials",
    "workers",
    "storage",
    "study",
    "study_dir",
    "sampler",
    "sampler_seed",
    "pruner",
    "resume",
    "write_preset",
)
#: Root keys of a trial's config that a preset never sets (display, the search itself).
_NOT_IN_PRESET = ("launcher", "progress", "tune", "hydra")
#: Keeps workers' samplers apart: worker k of a study draws from ``seed + k * _WORKER_SEED``.
_WORKER_SEED = 1009


class StorageError(ConfigError):
    """The study's storage cannot be opened, or holds a study that does not fit this search."""


@dataclass
class Settings:
    """A search: the config's ``tune`` node with the command's options on top."""

    study: str
    direction: Literal["maximize", "minimize"]
    n_trials: int
    sampler: str
    sampler_seed: int
    pruner: str
    preset: str
    study_dir: Path
    storage: str
    workers: int = 1
    resume: bool = False
    write_preset: str | None = None
    sampler_settings: dict[str, Any] = field(default_factory=dict)
    pruner_settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class Command:
    """The command line, split: the search's options and the rl_lab overrides of every run."""

    options: dict[str, str]
    overrides: list[str]
    worker: int | None = None  # set in the processes that ``workers=N`` starts


# --------------------------------------------------------------------------- command line
def parse_command(argv: Sequence[str]) -> Command:
    """Split ``argv`` into the options (:data:`OPTIONS`) and the rl_lab overrides.

    Raises:
        ConfigError: ``-m``, an option without a value, or an unknown ``--flag``.
    """
    options: dict[str, str] = {}
    overrides: list[str] = []
    worker = None
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("-m", "--multirun"):
            raise ConfigError(
                "python -m rl_lab.tune runs the trials itself: drop -m (sweep syntax such as "
                "seed=0,1 is not taken either; the search space is the config's "
                "tune.search_space)."
            )
        if arg.startswith("--write-preset"):
            value = arg.partition("=")[2] or (args.pop(0) if args else "")
            if not value:
                raise ConfigError("--write-preset needs a name: --write-preset ppo_cartpole_best.")
            options["write_preset"] = value
        elif arg.startswith("--worker="):
            worker = int(arg.partition("=")[2])
        elif arg.startswith("-"):
            raise ConfigError(
                f"Unknown flag {arg}. python -m rl_lab.tune takes rl_lab overrides, the options "
                f"{', '.join(o + '=' for o in OPTIONS)} and --write-preset NAME (see `python -m "
                "rl_lab.tune --help`)."
            )
        elif "=" in arg and arg.split("=", 1)[0] in OPTIONS:
            key, value = arg.split("=", 1)
            options[key] = value
        else:
            overrides.append(arg)
    return Command(options, overrides, worker)


def _int_option(options: Mapping[str, str], key: str, default: Any, low: int) -> int:
    value = options.get(key, default)
    try:
        number = int(str(value))
    except ValueError:
        number = low - 1
    if number < low:
        raise ConfigError(f"{key}={value} must be a whole number >= {low}.")
    return number


def settings_from(cfg: DictConfig, options: Mapping[str, str]) -> Settings:
    """The search's :class:`Settings`: ``cfg.tune`` with ``options`` on top.

    Raises:
        SearchSpaceError: an unknown sampler, pruner or direction, a bad number.
    """
    tune = config_dict(cfg.get("tune") or OmegaConf.create({}), resolve=True)
    sampler_node = dict(tune.get("sampler") or {})
    pruner_node = dict(tune.get("pruner") or {})
    sampler = options.get("sampler", sampler_node.pop("name", "tpe"))
    sampler_node.pop("name", None)
    pruner = options.get("pruner", pruner_node.pop("name", "median"))
    pruner_node.pop("name", None)
    if sampler not in SAMPLERS:
        raise SearchSpaceError(
            f"sampler={sampler} is not a sampler; use one of {', '.join(SAMPLERS)}."
        )
    if pruner not in PRUNERS:
        raise SearchSpaceError(f"pruner={pruner} is not a pruner; use one of {', '.join(PRUNERS)}.")
    direction = str(tune.get("direction", "maximize"))
    if direction not in ("maximize", "minimize"):
        raise SearchSpaceError(f"tune.direction={direction} must be maximize or minimize.")
    study = options.get("study") or tune.get("study") or f"{cfg.task.run_name}"
    study_dir = Path(options.get("study_dir") or Path("outputs") / "tune" / study).absolute()
    resume = options.get("resume", "false").lower()
    if resume not in ("true", "false"):
        raise ConfigError(f"resume={options['resume']} must be true or false.")
    return Settings(
        study=study,
        direction=cast(Literal["maximize", "minimize"], direction),  # checked above
        n_trials=_int_option(options, "n_trials", tune.get("n_trials", 20), 1),
        sampler=sampler,
        sampler_seed=_int_option(options, "sampler_seed", sampler_node.pop("seed", 0), 0),
        pruner=pruner,
        preset=str(tune.get("preset") or f"{study}_best"),
        study_dir=study_dir,
        storage=options.get("storage") or f"sqlite:///{study_dir / 'study.db'}",
        workers=_int_option(options, "workers", 1, 1),
        resume=resume == "true",
        write_preset=options.get("write_preset"),
        sampler_settings=sampler_node,
        pruner_settings=pruner_node,
    )


# --------------------------------------------------------------------------- config
def compose(overrides: Sequence[str], with_hydra: bool = False) -> DictConfig:
    """The config ``python -m rl_lab OVERRIDES`` runs (with its ``hydra`` node if asked).

    Raises:
        ConfigError: an override Hydra cannot apply, in the command line's words.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import ConfigCompositionException, HydraException

    import rl_lab.__main__ as entry  # registers the env config source and the resolvers

    try:
        with initialize_config_dir(config_dir=app.CONFIG_DIR, version_base="1.3"):
            return hydra_compose(
                config_name="config", overrides=list(overrides), return_hydra_config=with_hydra
            )
    except ConfigCompositionException as exc:
        message = entry.unknown_override_message(exc, list(overrides))
        raise ConfigError(message or " ".join(str(exc).split())) from exc
    except HydraException as exc:  # e.g. an experiment= that conf/ lacks
        raise ConfigError(" ".join(str(exc).split())) from exc


def run_config(full: DictConfig) -> DictConfig:
    """A trial's config: ``full`` without the ``hydra`` and ``tune`` nodes (a copy)."""
    cfg = full.copy()
    with open_dict(cfg):
        for key in ("hydra", "tune"):
            cfg.pop(key, None)
    return cfg


_ABSENT = object()


def check_space(cfg: DictConfig, space: list[Param], overrides: Sequence[str]) -> None:
    """Every searched key exists in the config and is not also fixed on the command line.

    Raises:
        SearchSpaceError: the paragraph naming the keys (with suggestions).
    """
    plain = run_config(cfg)
    unknown = [p.name for p in space if OmegaConf.select(plain, p.name, default=_ABSENT) is _ABSENT]
    if unknown:
        task = OmegaConf.select(cfg, "task.name")
        raise SearchSpaceError(
            "Search space: "
            + unknown_keys_message(unknown, plain, f"task={task} with the search's overrides")
        )
    fixed = {app.override_key(o) for o in overrides}
    both = [p.name for p in space if p.name in fixed]
    if both:
        raise SearchSpaceError(
            f"{', '.join(both)} {'is' if len(both) == 1 else 'are'} both searched and set on the "
            "command line. Drop the override to search it, or remove it from the search space "
            "(a space of your own: +hparams_search=<name>)."
        )


# --------------------------------------------------------------------------- storage
def storage_label(url: str) -> str:
    """``url`` with its password hidden (for messages, results and study attributes)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: the open will say so
        return url


def open_storage(url: str) -> Any:
    """An ``optuna.storages.RDBStorage`` for ``url`` (SQLite waits up to a minute for a lock
    another worker holds).

    Raises:
        StorageError: the URL cannot be parsed, its driver is missing, or the database cannot be
            reached or written.
    """
    import optuna

    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine)
    except Exception as exc:
        reason = " ".join(str(exc).split("\n")[0].split()).rstrip(".") or type(exc).__name__
        raise StorageError(
            f"Cannot open the study storage {storage_label(url)}: {reason}. Give storage= a "
            "SQLAlchemy URL that this machine can reach and write, e.g. "
            "sqlite:///outputs/tune/study.db or postgresql://user:password@host:5432/dbname "
            "(PostgreSQL needs psycopg, in the `sweeps` extra); leave storage= out for "
            "a SQLite file in the study directory."
        ) from exc


def study_attrs(settings: Settings, space: list[Param], overrides: Sequence[str]) -> dict:
    """What a new study records about its search (``study.user_attrs``)."""
    return {
        "sampler": settings.sampler,
        "sampler_seed": settings.sampler_seed,
        "pruner": settings.pruner,
        "search_space": {p.name: p.as_dict() for p in space},
        "overrides": list(overrides),
        "study_dir": str(settings.study_dir),
        "created": f"{datetime.now():%Y-%m-%d %H:%M:%S}",
    }


def open_study(
    settings: Settings,
    space: list[Param],
    storage: Any,
    sampler: Any,
    pruner: Any,
    overrides: Sequence[str],
    create: bool,
) -> Any:
    """Create the study, or load it where the storage has it.

    Args:
        create: whether this process may create it (the launching process; workers load it).

    Raises:
        StorageError: ``resume=true`` with no such study; the stored study searches another
            space or direction; its study directory holds the trials of another study.
    """
    import optuna

    names = optuna.get_all_study_names(storage)
    label = storage_label(settings.storage)
    if settings.study not in names:
        if settings.resume or not create:
            held = ", ".join(names) or "no study"
            raise StorageError(
                f"resume=true: {label} has no study named {settings.study} (it holds {held}). "
                "Drop resume=true to start it, or name an existing one with study=NAME."
            )
        leftovers = sorted(settings.study_dir.glob("trial_*"))
        if leftovers:
            raise StorageError(
                f"{settings.study_dir} holds trial directories ({leftovers[0].name}, ...) but "
                f"{label} has no study {settings.study}: they belong to another study. Choose "
                "another study=NAME or study_dir=DIR, or point storage= at that study's database."
            )
    study = optuna.create_study(
        storage=storage,
        study_name=settings.study,
        direction=settings.direction,
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    wanted = {p.name: p.as_dict() for p in space}
    stored = study.user_attrs.get("search_space")
    if stored is None:
        for key, value in study_attrs(settings, space, overrides).items():
            study.set_user_attr(key, value)
        return study
    direction = study.direction.name.lower()
    if stored != wanted or direction != settings.direction:
        raise StorageError(
            f"The study {settings.study} in {label} was started with another search "
            f"({direction}, space {stored}); this command searches {settings.direction} over "
            f"{wanted}. Continue it with its own space, or start a new one with study=NAME."
        )
    return study


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid == os.getpid():
        return False  # this process runs no trial while it looks for stale ones
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child that nobody has waited for yet is a zombie, not a worker
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def fail_stale_trials(study: Any, storage: Any) -> list[int]:
    """Mark FAIL the RUNNING trials whose worker on this machine has died, and queue their
    parameters again; returns their numbers.

    A trial records its worker's host and pid when it starts (``user_attrs``). A stale trial
    keeps its number and run directory and gets ``user_attrs["stale"]``; its parameters become
    a WAITING trial (``user_attrs["retry_of"]``), so the search loses nothing. Workers on other
    machines are left alone: this machine cannot tell whether they still run.
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    host = socket.gethostname()
    study_id = storage.get_study_id_from_name(study.study_name)
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = trial.user_attrs
        if attrs.get("host") != host or _alive(attrs.get("pid")):
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        try:
            storage.set_trial_user_attr(
                trial_id, "stale", f"worker {attrs.get('pid')} on {host} ended while it ran"
            )
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
        except UpdateFinishedTrialError:
            continue  # another process got there first
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        failed.append(trial.number)
    if failed:
        log.warning(
            "Trials %s were left RUNNING by a worker that died: marked FAIL, their parameters "
            "queued again.",
            ", ".join(map(str, failed)),
        )
    return failed


def next_trial(study: Any, storage: Any, settings: Settings) -> Any | None:
    """The next trial to run (a queued one first), or ``None`` once the study holds
    ``n_trials`` trials that no dead worker left behind."""
    from optuna.trial import TrialState

    # counting the trials and asking for the next one is one step for the workers of a
    # machine, so that together they start exactly n_trials
    with exclusive_lock(settings.study_dir / "tune.lock"):
        fail_stale_trials(study, storage)
        trials = study.get_trials(deepcopy=False)
        counted = sum("stale" not in t.user_attrs for t in trials)
        waiting = any(t.state == TrialState.WAITING for t in trials)
        if counted >= settings.n_trials and not waiting:
            return None
        trial = study.ask()
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        return trial


# --------------------------------------------------------------------------- trials
@contextmanager
def _run_log(run_dir: Path) -> Iterator[None]:
    logger = logging.getLogger("rl_lab")
    handler = RunLogHandler(str(run_dir / "run.log"))
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()


def _annotate(run_dir: Path, extra: Mapping[str, Any]) -> None:
    results = read_json(run_dir / "results.json")
    if isinstance(results, dict):
        results.update(extra)
        write_json(run_dir / "results.json", results)


def run_trial(
    study: Any,
    trial: Any,
    space: list[Param],
    settings: Settings,
    overrides: Sequence[str],
    sampler_seed: int,
) -> str:
    """Run one trial as a run directory of the study and tell the study how it ended.

    Returns:
        The trial's final state: ``COMPLETE``, ``PRUNED`` or ``FAIL``.
    """
    from optuna.trial import TrialState

    from rl_lab.rl import loop

    params = {p.name: p.suggest(trial) for p in space}
    args = [*overrides, *(f"{name}={override_value(v)}" for name, v in params.items())]
    extra = {
        "study": settings.study,
        "trial": trial.number,
        "storage": storage_label(settings.storage),
        "sampler": settings.sampler,
        "sampler_seed": sampler_seed,
        "pruner": settings.pruner,
        "params": params,
    }

    def report(env_steps: int, mean_return: float) -> None:
        trial.report(mean_return, env_steps)
        if trial.should_prune():
            raise RunPrunedError(
                f"Trial {trial.number} of {settings.study} was pruned at env step "
                f"{env_steps:,}: its evaluation mean {mean_return:.1f} is below what the "
                f"{settings.pruner} pruner keeps at that step."
            )

    run_dir = None
    state, value = TrialState.FAIL, None
    loop.EVAL_HOOKS.append(report)
    try:
        full = compose(args, with_hydra=True)
        cfg = run_config(full)
        run_dir = settings.study_dir / f"trial_{trial.number:04d}_{cfg.task.run_name}_s{cfg.seed}"
        trial.set_user_attr("run_dir", str(run_dir))
        hydra_node = full.hydra
        with open_dict(hydra_node):
            hydra_node.run.dir = str(run_dir)
            hydra_node.runtime.output_dir = str(run_dir)
        record = {
            "config.yaml": OmegaConf.to_yaml(cfg),
            "hydra.yaml": OmegaConf.to_yaml(OmegaConf.create({"hydra": hydra_node})),
            "overrides.yaml": OmegaConf.to_yaml(args),
        }
        check_creatable(run_dir)
        log.info("Trial %d: %s", trial.number, " ".join(args[len(overrides) :]))
        with _run_log(run_dir):
            try:
                results = app.run(
                    cfg,
                    run_dir,
                    args,
                    reference=lambda kept: run_config(compose(kept)),
                    hydra_record=record,
                )
            except RLLabError as exc:
                app.record_refusal(run_dir, cfg, args, exc, record)
                raise
        objective = float(results["objective"])
        if math.isfinite(objective):
            state, value = TrialState.COMPLETE, objective
        else:
            trial.set_user_attr("error", "the objective is not a finite number")
    except RunPrunedError as exc:
        state = TrialState.PRUNED
        log.info("%s", exc)
    except InterruptedRunError as exc:
        trial.set_user_attr("error", str(exc).split("\n")[0])
        study.tell(trial, state=TrialState.FAIL)
        raise
    except RLLabError as exc:
        trial.set_user_attr("error", str(exc).split("\n")[0][:2000])
        log.error("Trial %d failed: %s", trial.number, exc)
    except BaseException:
        study.tell(trial, state=TrialState.FAIL)  # not left RUNNING by a bug or Ctrl-C
        raise
    finally:
        loop.EVAL_HOOKS.remove(report)
        if run_dir is not None:
            _annotate(run_dir, extra)
    if state == TrialState.COMPLETE:
        study.tell(trial, value)
    else:
        study.tell(trial, state=state)
    return state.name


def work(
    settings: Settings,
    space: list[Param],
    overrides: Sequence[str],
    worker: int,
    create: bool,
    cfg: DictConfig,
) -> None:
    """Run trials of the study until it holds ``n_trials`` (one process's share of a search).

    Args:
        settings, space, overrides: the search.
        worker: this process's index among the workers (0 without ``workers=``).
        create: whether this process may create the study.
        cfg: the config composed from ``overrides`` (the pruner's rungs come from it).
    """
    storage = open_storage(settings.storage)
    probe = open_study(settings, space, storage, None, None, overrides, create)
    # Each worker, and each resumption, draws its own random numbers: the same seed in two
    # processes would ask the same first trials twice.
    seed = settings.sampler_seed + _WORKER_SEED * worker + len(probe.trials)
    sampler = make_sampler(settings.sampler, seed, space, settings.sampler_settings)
    pruner = make_pruner(
        settings.pruner,
        settings.pruner_settings,
        int(OmegaConf.select(cfg, "eval.freq", default=1) or 1),
        int(OmegaConf.select(cfg, "total_steps", default=1) or 1),
    )
    study = open_study(settings, space, storage, sampler, pruner, overrides, create)
    while (trial := next_trial(study, storage, settings)) is not None:
        run_trial(study, trial, space, settings, overrides, seed)


def _spawn_workers(argv: Sequence[str], settings: Settings) -> int:
    """Run ``workers`` processes of this command on the study; returns the worst exit status."""
    share = max(1, available_cores() // settings.workers)
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, **dict.fromkeys(THREAD_ENV_VARS, str(share))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "rl_lab.tune", *argv]
    procs = [
        subprocess.Popen([*command, f"--worker={k}"], env=env) for k in range(settings.workers)
    ]
    log.info(
        "Started %d workers (%d thread(s) each): pids %s",
        len(procs),
        share,
        " ".join(str(p.pid) for p in procs),
    )
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait()
        raise
    for k, code in enumerate(codes):
        if code != 0:
            log.error("Worker %d exited with status %d (its messages are above).", k, code)
    return max(codes, default=0)


# --------------------------------------------------------------------------- the best trial
def preset_text(study: Any, name: str, compose_cfg: Any = compose) -> str:
    """The best trial of ``study`` (from its storage) as the YAML of ``experiment=<name>``.

    The preset selects the best trial's config groups and sets every value in which its run's
    config differs from what those groups compose to, so ``python -m rl_lab experiment=<name>``
    trains the best trial's config.

    Raises:
        StorageError: no trial has completed, or the best one's run directory is gone.
    """
    try:
        best = study.best_trial
    except ValueError:
        raise StorageError(
            f"No trial of the study {study.study_name} has completed, so there is no best one to "
            "write. Each trial's results.json (status, error) says why; `optuna-dashboard "
            "<storage URL>` shows them all."
        ) from None
    run_dir = Path(str(best.user_attrs.get("run_dir", "")))
    config_path, hydra_path = run_dir / "config.yaml", run_dir / ".hydra" / "hydra.yaml"
    if not config_path.is_file() or not hydra_path.is_file():
        raise StorageError(
            f"The best trial {best.number} of {study.study_name} ran in {run_dir}, which has no "
            "config.yaml and .hydra/hydra.yaml (was it moved?): its preset cannot be rebuilt."
        )
    config = config_dict(OmegaConf.load(config_path), resolve=False)
    choices = OmegaConf.select(OmegaConf.load(hydra_path), "hydra.runtime.choices") or {}
    choices = {str(k): str(v) for k, v in choices.items() if v is not None}
    groups = group_overrides(choices)
    baseline = config_dict(run_config(compose_cfg(groups)), resolve=True)
    values = config_difference(config, baseline)
    for key in _NOT_IN_PRESET:
        values.pop(key, None)
    source = choices.get("experiment") or choices.get("hparams_search") or "a search"
    attrs = study.user_attrs
    header = [
        "# @package _global_",
        f"# Best trial of `python -m rl_lab.tune` over {source}: trial {best.number} of study "
        f"{study.study_name},",
        f"# objective {best.value:g} (final greedy evaluation mean), run seed "
        f"{config.get('seed')}, sampler {attrs.get('sampler')} (seed {attrs.get('sampler_seed')}).",
        f"# Run: {run_dir}; written {datetime.now():%Y-%m-%d %H:%M}.",
        f"# Run it: python -m rl_lab experiment={name}",
        "defaults:",
        "  - _self_",
        *(f"  - override /{g.split('=', 1)[0]}: {g.split('=', 1)[1]}" for g in groups),
    ]
    body = OmegaConf.to_yaml(OmegaConf.create(values)) if values else ""
    return "\n".join(header) + "\n" + body


def write_presets(study: Any, settings: Settings) -> list[Path]:
    """Write the best trial as ``<study dir>/<preset>.yaml`` and, with ``write_preset=NAME``,
    as ``conf/experiment/NAME.yaml`` (never over an existing file there)."""
    written = []
    path = settings.study_dir / f"{settings.preset}.yaml"
    path.write_text(preset_text(study, settings.preset))
    written.append(path)
    if settings.write_preset:
        target = check_preset_target(settings)
        target.write_text(preset_text(study, settings.write_preset))
        written.append(target)
    return written


def check_preset_target(settings: Settings) -> Path:
    """``conf/experiment/<write_preset>.yaml``, refused where it exists already.

    Raises:
        ConfigError: the file exists (rl_lab never overwrites a preset).
    """
    target = Path(app.CONFIG_DIR) / "experiment" / f"{settings.write_preset}.yaml"
    if target.exists():
        raise ConfigError(
            f"{target} exists: rl_lab never overwrites a preset. Choose another name with "
            f"--write-preset NAME, or compare it with {settings.study_dir / settings.preset}.yaml "
            "once the search has written it and copy that by hand."
        )
    return target


def summary(study: Any, settings: Settings) -> str:
    """A few lines on the study: trials by state, the best trial and its parameters."""
    from collections import Counter

    states = Counter(t.state.name.lower() for t in study.trials)
    counts = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    lines = [f"Study {study.study_name} ({storage_label(settings.storage)}): {counts}."]
    try:
        best = study.best_trial
    except ValueError:
        return lines[0]
    lines.append(
        f"Best trial {best.number}: objective {best.value:g} ({best.user_attrs.get('run_dir')})"
    )
    lines += [f"  {name}={override_value(value)}" for name, value in best.params.items()]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rl_lab.tune ARGS``; returns the exit status (2: an error, 130: interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    try:
        command = parse_command(argv)
        worker = command.worker
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # rl_lab logs each trial itself
        if not logging.getLogger().handlers:
            prefix = f"[worker {worker}]" if worker is not None else "[tune]"
            logging.basicConfig(level=logging.INFO, format=f"{prefix}[%(name)s] %(message)s")
        overrides = command.overrides
        if not any(app.override_key(o) == "progress" for o in overrides):
            overrides = [*overrides, "progress=false"]  # one bar per trial would fill the log
        cfg = compose(overrides)
        settings = settings_from(cfg, command.options)
        space = parse_space(
            config_dict(cfg.tune, resolve=True).get("search_space") if cfg.get("tune") else None
        )
        check_space(cfg, space, overrides)
        make_sampler(settings.sampler, settings.sampler_seed, space)  # a bad choice fails now
        if settings.write_preset:
            check_preset_target(settings)
        if worker is not None:
            limit_threads(max(1, available_cores() // settings.workers))
            work(settings, space, overrides, worker, False, cfg)
            return 0
        storage = open_storage(settings.storage)
        study = open_study(settings, space, storage, None, None, overrides, create=True)
        fail_stale_trials(study, storage)
        log.info(
            "Study %s in %s: %d trials held, %d asked for; runs in %s. Watch it with: "
            "optuna-dashboard %s",
            settings.study,
            storage_label(settings.storage),
            len(study.trials),
            settings.n_trials,
            settings.study_dir,
            storage_label(settings.storage),
        )
        status = 0
        if settings.workers > 1:
            status = _spawn_workers(argv, settings)
        else:
            work(settings, space, overrides, 0, True, cfg)

        study = optuna.load_study(study_name=settings.study, storage=storage)
        print(summary(study, settings))
        for path in write_presets(study, settings):
            print(f"Best trial preset: {path}")
        print(
            f"Run it: cp {settings.study_dir / settings.preset}.yaml conf/experiment/ && "
            f"python -m rl_lab experiment={settings.preset}"
        )
        return status
    except InterruptedRunError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(
            "Interrupted: continue the search with the same command and resume=true.",
            file=sys.stderr,
        )
        return 130
    except RLLabError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
