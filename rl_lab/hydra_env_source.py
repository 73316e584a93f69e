"""Lets ``env=<any registered Gymnasium id>`` compose even without ``conf/env/<id>.yaml``.

Hydra only accepts options of a config group that exist as files. This config source answers
for every name in the ``env`` group: it returns ``{defaults: [/env_settings], id: <name>}``, so
an id like ``Acrobot-v1`` gets the env settings (:class:`rl_lab.rl.configs.EnvConfig`), and an
Atari id (``ALE/Breakout-v5``) ``{defaults: [atari], id: <name>}``, the Atari settings of
``env=atari`` (:class:`rl_lab.rl.configs.AtariEnvConfig`). Files in
``conf/env`` come first in the search path and win. Whether the id is registered is checked when
the run starts (with close matches in the message), not here.

Presets: ``conf/task/rl.yaml`` applies ``preset/<agent>/<env>``, which for an Atari id is
``preset/<agent>/ALE/<Game>-v5``. Without such a file this source answers that path (and
``preset/<agent>/atari``, for ``env=atari``) with the agent's Atari preset,
``conf/preset/<agent>/ALE/atari.yaml`` (optional: nothing when the agent has none), so every game
gets it; a per-game file ``conf/preset/<agent>/ALE/<Game>-v5.yaml`` still wins.

Retired agent names: ``agent=sb3_<agent>`` (for every agent of ``rl_lab.agents.AGENTS`` that
has an SB3 counterpart) was SB3's implementation before ``impl`` existed. This source answers
it with ``<agent>``'s config under its old name, so the command composes (its ``agent.*``
overrides too) and the RL task refuses it with one paragraph naming the new spelling,
``agent=<agent> impl=sb3``, instead of Hydra's "Could not find 'agent/sb3_<agent>'".
"""

from __future__ import annotations

from hydra.core.object_type import ObjectType
from hydra.core.plugins import Plugins
from hydra.plugins.config_source import ConfigLoadError, ConfigResult, ConfigSource
from omegaconf import OmegaConf

from rl_lab import hydra_private_configs
from rl_lab.agents import retired_name  # the registry: strings only, cheap to import early
from rl_lab.config import register_common
from rl_lab.config_dict import group_options
from rl_lab.data import configs as dataset_configs
from rl_lab.gan import configs as gan_configs
from rl_lab.rl import configs as agent_configs  # dataclasses only: cheap to import early
from rl_lab.supervised import configs as trainer_configs

GROUP = "env"
AGENT_GROUP = "agent"
PRESETS = "preset"
ATARI_PREFIX = "ALE/"  # as rl_lab.rl.atari (not imported: Hydra loads this module early)
ATARI_PRESET = "atari"  # conf/preset/<agent>/ALE/atari.yaml: the agent's preset for every game

#: The config groups whose options are (or include) config classes, by group and name.
TYPED_OPTIONS: dict[str, dict[str, type]] = {
    "agent": agent_configs.AGENT_CONFIGS,
    "trainer": {**trainer_configs.TRAINER_CONFIGS, **gan_configs.GAN_TRAINER_CONFIGS},
    "model": {**trainer_configs.MODEL_CONFIGS, **gan_configs.GAN_MODEL_CONFIGS},
    "dataset": dict(dataset_configs.DATASET_CONFIGS),
}


def is_option(group: str, name: str) -> bool:
    """Whether ``<group>=<name>`` composes: an env id (any: checked when the run starts), a
    config class of :data:`TYPED_OPTIONS` or a file conf/<group>/<name>.yaml."""
    return group == GROUP or name in group_options(group, TYPED_OPTIONS.get(group, {}))


class GymEnvConfigSource(ConfigSource):
    """Config source of scheme ``gymenv://``: every option of the ``env`` group exists, and
    every Atari game's ``preset/<agent>/ALE/<Game>-v5`` is the agent's Atari preset."""

    @staticmethod
    def scheme() -> str:
        return "gymenv"

    def _env_id(self, config_path: str) -> str | None:
        config_path = config_path.removesuffix(".yaml")
        prefix = GROUP + "/"
        if not config_path.startswith(prefix) or config_path == prefix:
            return None
        name = config_path[len(prefix) :]
        return None if name.startswith("_") else name

    def _atari_preset_agent(self, config_path: str) -> str | None:
        """``preset/<agent>/ALE/<Game>-v5`` or ``preset/<agent>/atari`` -> ``<agent>``."""
        parts = config_path.removesuffix(".yaml").split("/")
        if parts[0] != PRESETS:
            return None
        if len(parts) == 4 and parts[2] + "/" == ATARI_PREFIX and parts[3] != ATARI_PRESET:
            return parts[1]
        if len(parts) == 3 and parts[2] == "atari":  # env=atari (conf/env/atari.yaml)
            return parts[1]
        return None

    def _retired_agent(self, config_path: str) -> str | None:
        """``agent/sb3_dqn`` -> ``dqn`` (see the module docstring); ``None`` for other paths."""
        group, _, name = config_path.removesuffix(".yaml").partition("/")
        return retired_name(name) if group == AGENT_GROUP else None

    def load_config(self, config_path: str) -> ConfigResult:
        env_id = self._env_id(config_path)
        agent = self._atari_preset_agent(config_path)
        retired = self._retired_agent(config_path)
        if env_id is not None:
            base = "atari" if env_id.startswith(ATARI_PREFIX) else f"/{agent_configs.ENV_NODE}"
            config = OmegaConf.create({"defaults": [base, "_self_"], "id": env_id})
            package = GROUP
        elif agent is not None:
            group = f"optional /{PRESETS}/{agent}/{ATARI_PREFIX.rstrip('/')}"
            config = OmegaConf.create({"defaults": [{group: ATARI_PRESET}]})
            package = "_global_"
        elif retired is not None:
            name = config_path.removesuffix(".yaml").partition("/")[2]
            config = OmegaConf.create({"defaults": [retired, "_self_"], "name": name})
            package = AGENT_GROUP
        else:
            raise ConfigLoadError(f"gymenv:// has no config '{config_path}'")
        return ConfigResult(
            config=config,
            path=f"{self.scheme()}://{self.path}",
            provider=self.provider,
            header={"package": package},
        )

    def available(self) -> bool:
        return True

    def is_group(self, config_path: str) -> bool:
        # "env" itself, and path prefixes of namespaced ids such as "env/ALE" and
        # "preset/<agent>/ALE"
        if config_path == GROUP or config_path.startswith(GROUP + "/"):
            return "-v" not in config_path
        parts = config_path.split("/")
        return len(parts) == 3 and parts[0] == PRESETS and parts[2] + "/" == ATARI_PREFIX

    def is_config(self, config_path: str) -> bool:
        return (
            self._env_id(config_path) is not None
            or self._atari_preset_agent(config_path) is not None
            or self._retired_agent(config_path) is not None
        )

    def list(self, config_path: str, results_filter: ObjectType | None) -> list[str]:
        # Registered ids are not enumerated here: the file-based presets are what `--help` and
        # tab completion should show.
        return []


def register() -> None:
    """Register rl_lab's configs with Hydra (idempotent): this source, the one that keeps
    private configs (``_`` names) out of Hydra's lists of choices, and the typed defaults: the
    keys every task shares (:class:`rl_lab.config.CommonConfig`), every agent (the ``agent``
    group) and the RL task's keys (:mod:`rl_lab.rl.configs`), ``trainer=default`` and the
    supervised task's keys (:mod:`rl_lab.supervised.configs`), ``trainer=gan`` and the GAN
    task's keys (:mod:`rl_lab.gan.configs`), the datasets (:mod:`rl_lab.data.configs`)."""
    Plugins.instance().register(GymEnvConfigSource)
    hydra_private_configs.register()
    register_common()
    dataset_configs.register()
    agent_configs.register()
    trainer_configs.register()
    gan_configs.register()
