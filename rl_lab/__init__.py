"""rl_lab: a reinforcement-learning and GAN lab on Gymnasium environments.

From Python (see :mod:`rl_lab.api`)::

    import rl_lab
    run = rl_lab.train("agent=dqn", "env=CartPole-v1", "seed=3")
    agent = rl_lab.load(run.best_checkpoint)
    rl_lab.evaluate(agent, episodes=20)

Map of the package:

- ``__main__``      the Hydra entry point (``python -m rl_lab`` / ``rl-lab``)
- ``api``           the Python API: ``train``, ``load``, ``evaluate``, ``export``, ``summarize``
- ``exporting``     trained models as ONNX / TorchScript files (``mode=export``)
- ``app``           what a run does once its config is composed: checks, then the task
- ``nets/``         the network zoo: dense, conv, recurrent blocks and Q heads
- ``rl/``           environments, replay buffer, agents, the off-policy loop, evaluation
- ``config``        validation of the composed config
- ``checkpoint``    atomic checkpoint files, loaded with ``weights_only=True``
- ``run_dir``       run metadata (resolved config, versions, git commit) and ``results.json``
- ``tracking``      TensorBoard scalars/hparams and the live progress bar
- ``summarize``     ``python -m rl_lab.summarize DIR`` (the command; the code is in ``reports/``)
- ``reports/``      reading runs, aggregating seeds, tables, plots: every report and script
"""

from typing import Any

__version__ = "0.1.0"

#: The Python API, imported on first use (``import rl_lab`` stays light for the command line).
_API: tuple[str, ...] = ("train", "load", "evaluate", "compose_config", "Run", "Agent")
_API += ("Classifier", "GanGenerator", "summarize", "export")


def __getattr__(name: str) -> Any:
    if name in _API:
        from rl_lab import api

        return getattr(api, name)
    raise AttributeError(f"module 'rl_lab' has no attribute {name!r}")
