"""The IDX file format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

An IDX file is a big-endian header followed by the raw array::

    magic (4 bytes): 0x00 0x00, type code (0x08 = unsigned byte), number of dimensions
    one uint32 per dimension
    prod(dims) values, row-major

so images are magic 2051 (0x00000803, 3 dims: N, rows, cols) and labels 2049 (0x00000801, 1 dim:
N). Files may be gzipped (detected from the content, not the name). Every inconsistency is a
:class:`~rl_lab.errors.DatasetError` naming the file: a partial array is never returned.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from rl_lab.errors import DatasetError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"
_KIND = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}


def _fix_hint(path: Path) -> str:
    return f"Delete {path} and put a complete copy there (or let rl_lab download it again)."


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The content of ``path``, decompressed if it is gzipped.

    Args:
        path: the file.
        limit: read at most this many (decompressed) bytes; ``None`` reads everything and
            checks the gzip stream's end and CRC.
    """
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == _GZIP_MAGIC
        if not gzipped:
            with open(path, "rb") as raw:
                return raw.read() if limit is None else raw.read(limit)
        with gzip.open(path, "rb") as stream:
            return stream.read() if limit is None else stream.read(limit)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DatasetError(
            f"{path} is a truncated or corrupt gzip file ({exc}). {_fix_hint(path)}"
        ) from exc
    except OSError as exc:
        raise DatasetError(f"{path} could not be read ({exc}).") from exc


def _parse_header(data: bytes, path: Path, magic: int) -> tuple[tuple[int, ...], int]:
    """``(dims, header_length)`` after checking the magic number."""
    kind = _KIND[magic]
    if len(data) < 4:
        raise DatasetError(
            f"{path} is too short to be an IDX {kind} file ({len(data)} bytes). " + _fix_hint(path)
        )
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        other = _KIND.get(found)
        swapped = f" (that is an IDX {other} file: are the file names swapped?)" if other else ""
        raise DatasetError(
            f"{path} has magic number {found}{swapped}; an IDX {kind} file starts with {magic} "
            f"(0x{magic:08x}). The file is not the expected {kind} file or is corrupt. "
            + _fix_hint(path)
        )
    ndim = found & 0xFF
    header_length = 4 + 4 * ndim
    if len(data) < header_length:
        raise DatasetError(
            f"{path} is truncated inside its header ({len(data)} of {header_length} bytes). "
            + _fix_hint(path)
        )
    dims = struct.unpack(f">{ndim}I", data[4:header_length])
    return tuple(int(d) for d in dims), header_length


def read_header(path: str | os.PathLike, magic: int) -> tuple[int, ...]:
    """The dimensions recorded in an IDX file's header (reads only the first bytes)."""
    path = Path(path)
    dims, _ = _parse_header(read_bytes(path, limit=16), path, magic)
    return dims


def read_idx(path: str | os.PathLike, magic: int) -> np.ndarray:
    """Read a whole unsigned-byte IDX file.

    Args:
        path: the file, gzipped or not.
        magic: :data:`IMAGES_MAGIC` (returns ``(N, rows, cols)`` uint8) or :data:`LABELS_MAGIC`
            (returns ``(N,)`` uint8).

    Raises:
        DatasetError: unreadable, corrupt gzip, wrong magic number, wrong number of dimensions,
            or a byte count that does not match the header (truncated or padded file).
    """
    path = Path(path)
    data = read_bytes(path)
    dims, header_length = _parse_header(data, path, magic)
    kind = _KIND[magic]
    want_ndim = 3 if magic == IMAGES_MAGIC else 1
    if len(dims) != want_ndim or any(d == 0 for d in dims[1:]):
        raise DatasetError(
            f"{path} declares dimensions {dims}; an IDX {kind} file has {want_ndim} nonzero "
            f"dimension(s). " + _fix_hint(path)
        )
    expected = math.prod(dims)
    actual = len(data) - header_length
    if actual != expected:
        problem = "truncated" if actual < expected else "longer than its header says"
        raise DatasetError(
            f"{path} is {problem}: its header declares {' x '.join(map(str, dims))} = "
            f"{expected} values but the file holds {actual} bytes of data. " + _fix_hint(path)
        )
    # .copy(): an owned, writable array that does not keep the decompressed bytes alive.
    return (
        np.frombuffer(data, dtype=np.uint8, count=expected, offset=header_length)
        .reshape(dims)
        .copy()
    )


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write a uint8 array as an IDX file (gzipped when ``path`` ends in ``.gz``).

    ``(N,)`` arrays become label files (magic 2049), ``(N, rows, cols)`` image files (2051).
    """
    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, _UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.tobytes()
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path
