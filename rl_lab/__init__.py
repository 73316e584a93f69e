"""rl_lab: a reinforcement-learning and GAN lab on Gymnasium environments.

Map of the package:

- ``__main__``      the Hydra entry point (``python -m rl_lab`` / ``rl-lab``)
- ``nets/``         the network zoo: dense, conv, recurrent blocks and Q heads
- ``rl/``           environments, replay buffer, agents, the off-policy loop, evaluation
- ``config``        validation of the composed config
- ``checkpoint``    atomic checkpoint files, loaded with ``weights_only=True``
- ``run_dir``       run metadata (resolved config, versions, git commit) and ``results.json``
- ``tracking``      TensorBoard scalars/hparams and the live progress bar
- ``summarize``     ``python -m rl_lab.summarize DIR``: tables and curves over a sweep
"""

__version__ = "0.1.0"
