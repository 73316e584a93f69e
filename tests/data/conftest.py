"""Fixtures for the dataset tests: tiny IDX datasets on disk and a loopback HTTP mirror."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rl_lab.data.idx import write_idx
from rl_lab.data.mnist import FILE_NAMES


def write_idx_dataset(
    folder: Path, n_train: int = 60, n_test: int = 20, gz: bool = True, seed: int = 0
) -> dict[str, np.ndarray]:
    """Write the four files of a tiny 28x28, 10-class IDX dataset; returns the arrays."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for role, array in arrays.items():
        name = FILE_NAMES[role] if gz else FILE_NAMES[role].removesuffix(".gz")
        write_idx(folder / name, array)
    return arrays


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder without logging every request to stderr."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def serve_dir() -> Iterator:
    """``serve_dir(folder) -> "http://127.0.0.1:PORT/"``: a loopback server for ``folder``."""
    servers = []

    def _serve(folder: Path) -> str:
        handler = functools.partial(QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield _serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
