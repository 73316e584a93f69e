"""What TensorBoard shows for a log directory, read through its own data API.

:class:`TensorBoardView` loads a ``--logdir`` the way ``tensorboard`` does (plugin event
multiplexer and its data provider) and answers with what the dashboards would display: run
names, scalar series, image blobs, and the CUSTOM SCALARS layout as the plugin merges it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tensorboard import context
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.backend.event_processing.data_provider import MultiplexerDataProvider
from tensorboard.plugins import base_plugin
from tensorboard.plugins.custom_scalar.custom_scalars_plugin import CustomScalarsPlugin


class TensorBoardView:
    """The dashboards of ``tensorboard --logdir logdir``."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = str(logdir)
        self.multiplexer = plugin_event_multiplexer.EventMultiplexer()
        self.multiplexer.AddRunsFromDirectory(self.logdir)
        self.multiplexer.Reload()
        self.provider = MultiplexerDataProvider(self.multiplexer, self.logdir)
        self.ctx = context.RequestContext()

    @property
    def runs(self) -> set[str]:
        """Run names (directories with event files, relative to the log directory)."""
        return set(self.multiplexer.Runs())

    def scalars(self, run: str | None = None) -> dict[str, dict[str, list[tuple[int, float]]]]:
        """``run → tag → [(step, value), ...]`` of the SCALARS tab (one run, or all)."""
        data = self.provider.read_scalars(
            self.ctx, experiment_id="", plugin_name="scalars", downsample=100_000
        )
        return {
            name: {tag: [(p.step, p.value) for p in points] for tag, points in tags.items()}
            for name, tags in data.items()
            if run is None or name == run
        }

    def images(self, run: str, tag: str) -> list[tuple[int, int, int, bytes]]:
        """``[(step, width, height, encoded image), ...]`` of the IMAGES tab."""
        sequences = self.provider.read_blob_sequences(
            self.ctx, experiment_id="", plugin_name="images", downsample=100
        )
        shown = []
        for datum in sequences[run][tag]:
            width, height, encoded = (self.provider.read_blob(self.ctx, blob_key=b.blob_key)
                                      for b in datum.values)  # fmt: skip
            shown.append((datum.step, int(width), int(height), encoded))
        return shown

    def layout(self) -> dict[str, Any]:
        """The CUSTOM SCALARS layout, merged over every run as the plugin serves it:
        ``{category title: {chart title: chart content}}`` (content: ``multiline`` or
        ``margin`` as in ``layout.proto``)."""
        tb_context = base_plugin.TBContext(
            data_provider=self.provider, multiplexer=self.multiplexer, logdir=self.logdir
        )
        merged = json.loads(CustomScalarsPlugin(tb_context).layout_impl(self.ctx, "") or "{}")
        return {
            category["title"]: {
                chart["title"]: {k: v for k, v in chart.items() if k != "title"}
                for chart in category["chart"]
            }
            for category in merged.get("category", [])
        }
