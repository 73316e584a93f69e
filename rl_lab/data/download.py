"""Downloading dataset files: streamed to a temporary file, checksummed, renamed into place.

A file appears under its final name only once its checksum matched, so an interrupted or
corrupted download never looks like a dataset file. Checksums are written ``"md5:<hex>"`` or
``"sha256:<hex>"``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from rl_lab.errors import DatasetError

log = logging.getLogger("rl_lab")

#: Seconds a connection or a single read may stall before a mirror is given up.
TIMEOUT_S = 30.0
_CHUNK = 1 << 20


def parse_checksum(checksum: str) -> tuple[str, str]:
    """``"md5:abc..."`` → ``("md5", "abc...")``; only md5 and sha256 are accepted."""
    algorithm, _, digest = checksum.partition(":")
    if algorithm not in ("md5", "sha256") or not digest:
        raise ValueError(f"checksum must be 'md5:<hex>' or 'sha256:<hex>', got {checksum!r}")
    return algorithm, digest.lower()


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (``md5`` or ``sha256``)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(url: str, dest: Path, algorithm: str, expected: str, timeout: float) -> None:
    """Download ``url`` to ``dest`` atomically, or raise ``OSError``/``ValueError`` with why."""
    request = urllib.request.Request(url, headers={"User-Agent": "rl_lab"})
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        digest = hashlib.new(algorithm)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as resp:
            while chunk := resp.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if got != expected:
            raise ValueError(
                f"checksum mismatch ({algorithm} expected {expected}, got {got}; the downloaded "
                "file was deleted)"
            )
        os.chmod(tmp_name, 0o644)  # mkstemp creates 0600; dataset files are shared read-only
        os.replace(tmp_name, dest)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def download_file(
    urls: Sequence[str], dest: str | os.PathLike, checksum: str, timeout: float = TIMEOUT_S
) -> Path:
    """Download one file from the first mirror that serves it with the right checksum.

    Args:
        urls: full URLs of the same file on each mirror, tried in order.
        dest: the final path; its folder is created.
        checksum: ``"md5:<hex>"`` or ``"sha256:<hex>"`` of the file's bytes.
        timeout: seconds before a stalled connection or read is abandoned.

    Raises:
        DatasetError: no mirror delivered the file with a matching checksum; the message lists
            each URL and what went wrong (network error, HTTP status, checksum mismatch).
    """
    dest = Path(dest)
    algorithm, expected = parse_checksum(checksum)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"Cannot create {dest.parent} to download into ({exc}).") from exc
    failures = []
    for url in urls:
        log.info("Downloading %s from %s", dest.name, url)
        try:
            _fetch(url, dest, algorithm, expected, timeout)
            return dest
        except (OSError, ValueError) as exc:
            # URLError and HTTPError are OSErrors; socket timeouts too.
            if isinstance(exc, urllib.error.HTTPError):
                reason = f"HTTP {exc.code} {exc.reason}"
            elif isinstance(exc, urllib.error.URLError):
                reason = str(exc.reason)
            else:
                reason = str(exc)
            failures.append(f"{url}: {reason}")
            log.warning("Download of %s from %s failed: %s", dest.name, url, reason)
    raise DatasetError(f"Could not download {dest.name} ({'; '.join(failures)}).")
