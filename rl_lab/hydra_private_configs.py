"""Keeps rl_lab's private config files out of Hydra's lists of choices.

A config whose name starts with ``_`` (``conf/preset/_atari/``,
``conf/hydra/launcher/_ray_settings.yaml``) is a part that other configs
list in their defaults, not an option to choose. Hydra lists every file and folder of a group as
a choice: under "Available options in 'agent'" when an option is misspelt, in ``--help`` and
``--hydra-help``, and in tab completion.

:class:`PublicFileConfigSource` reads ``conf/`` exactly as Hydra's own file source does, so the
defaults lists still find the private files and every composed config stays the same, but it
leaves the ``_`` names out of its listings. :class:`PublicConfDir`, a search path plugin, makes it
the source of rl_lab's ``conf/`` (Hydra's ``main`` search path entry), whichever way Hydra was
started: ``python -m rl_lab`` or ``initialize_config_dir``. A run's ``.hydra/hydra.yaml`` records
that entry with ``schema: publicfile``; a private config can still be chosen explicitly
(``agent=_actor_critic``), it is only never offered.
"""

from __future__ import annotations

import os

from hydra._internal.core_plugins.file_config_source import FileConfigSource
from hydra.core.config_search_path import ConfigSearchPath, SearchPathElement
from hydra.core.object_type import ObjectType
from hydra.core.plugins import Plugins
from hydra.plugins.config_source import ConfigResult
from hydra.plugins.search_path_plugin import SearchPathPlugin
from omegaconf import open_dict

from rl_lab.config_dict import CONF_DIR

#: Names of private configs and config folders start with this.
PRIVATE_PREFIX = "_"

#: The (agent, env) presets' group, and the root key that names the preset a run applied.
PRESET_GROUP = "preset"
TUNED_PRESET_KEY = "tuned_preset"


def tuned_preset_name(config_path: str) -> str | None:
    """``preset/dqn/CartPole-v1.yaml`` → ``dqn/CartPole-v1``; ``None`` for any other config
    and for the private parts of presets (``preset/_atari/...``)."""
    group, _, name = config_path.removesuffix(".yaml").partition("/")
    if group != PRESET_GROUP or "/" not in name:
        return None
    if any(part.startswith(PRIVATE_PREFIX) for part in name.split("/")):
        return None
    return name


class PublicFileConfigSource(FileConfigSource):
    """Hydra's file config source (scheme ``publicfile://``) whose listings omit private names:
    they can still be loaded by name from a defaults list.

    It also says which tuned preset a run applied: a preset file
    ``conf/preset/<agent>/<env>.yaml`` is loaded with ``tuned_preset: <agent>/<env>`` added
    (the RL task logs it and writes it into ``results.json``), so no preset restates its own
    path."""

    @staticmethod
    def scheme() -> str:
        return "publicfile"

    def load_config(self, config_path: str) -> ConfigResult:
        result = super().load_config(config_path)
        preset = tuned_preset_name(config_path)
        if preset is not None:
            with open_dict(result.config):
                result.config[TUNED_PRESET_KEY] = preset
        return result

    def list(self, config_path: str, results_filter: ObjectType | None) -> list[str]:
        return [
            name
            for name in super().list(config_path, results_filter)
            if not name.startswith(PRIVATE_PREFIX)
        ]


def _conf_dir(path: str) -> str | None:
    """``path`` (a search path entry) as a folder when it is rl_lab's ``conf/``, else ``None``."""
    if path.startswith("file://"):
        path = path[len("file://") :]
    elif "://" in path:  # pkg://, gymenv://, ...: not a folder
        return None
    return path if os.path.realpath(path) == os.path.realpath(CONF_DIR) else None


class PublicConfDir(SearchPathPlugin):
    """Reads rl_lab's ``conf/`` through :class:`PublicFileConfigSource` instead of Hydra's file
    source; other search path entries are left as they are."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        """Point the search path entry of ``conf/`` at the ``publicfile://`` scheme."""
        elements = search_path.get_path()
        for i, element in enumerate(elements):
            folder = _conf_dir(element.path)
            if folder is not None:
                scheme = PublicFileConfigSource.scheme()
                elements[i] = SearchPathElement(element.provider, f"{scheme}://{folder}")


def register() -> None:
    """Register the config source and the search path plugin with Hydra (idempotent)."""
    plugins = Plugins.instance()
    plugins.register(PublicFileConfigSource)
    plugins.register(PublicConfDir)
