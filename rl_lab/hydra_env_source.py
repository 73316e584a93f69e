"""Lets ``env=<any registered Gymnasium id>`` compose even without ``conf/env/<id>.yaml``.

Hydra only accepts options of a config group that exist as files. This config source answers
for every name in the ``env`` group: it returns ``{defaults: [_base], id: <name>}``, so an id
like ``Acrobot-v1`` or ``ALE/Breakout-v5`` gets the shared env settings. Files in ``conf/env``
come first in the search path and win. Whether the id is registered is checked when the run
starts (with close matches in the message), not here.
"""

from __future__ import annotations

from hydra.core.object_type import ObjectType
from hydra.core.plugins import Plugins
from hydra.plugins.config_source import ConfigLoadError, ConfigResult, ConfigSource
from omegaconf import OmegaConf

GROUP = "env"


class GymEnvConfigSource(ConfigSource):
    """Config source of scheme ``gymenv://``: every option of the ``env`` group exists."""

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

    def load_config(self, config_path: str) -> ConfigResult:
        env_id = self._env_id(config_path)
        if env_id is None:
            raise ConfigLoadError(f"gymenv:// has no config '{config_path}'")
        config = OmegaConf.create({"defaults": ["_base", "_self_"], "id": env_id})
        return ConfigResult(
            config=config,
            path=f"{self.scheme()}://{self.path}",
            provider=self.provider,
            header={"package": GROUP},
        )

    def available(self) -> bool:
        return True

    def is_group(self, config_path: str) -> bool:
        # "env" itself, and path prefixes of namespaced ids such as "env/ALE"
        return config_path == GROUP or (
            config_path.startswith(GROUP + "/") and "-v" not in config_path
        )

    def is_config(self, config_path: str) -> bool:
        return self._env_id(config_path) is not None

    def list(self, config_path: str, results_filter: ObjectType | None) -> list[str]:
        # Registered ids are not enumerated here: the file-based presets are what `--help` and
        # tab completion should show.
        return []


def register() -> None:
    """Register the config source with Hydra (idempotent)."""
    Plugins.instance().register(GymEnvConfigSource)
