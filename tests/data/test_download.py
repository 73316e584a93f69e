"""download_file: atomic, checksummed, mirror after mirror (against a loopback server)."""

from __future__ import annotations

import hashlib

import pytest

from rl_lab.data.download import download_file, file_digest, parse_checksum
from rl_lab.errors import DatasetError


@pytest.fixture
def mirror(tmp_path, serve_dir):
    served = tmp_path / "served"
    served.mkdir()
    payload = bytes(range(256)) * 4000  # ~1 MB: several read chunks
    (served / "blob.bin").write_bytes(payload)
    return serve_dir(served), payload


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_download_verifies_and_renames(tmp_path, mirror, algorithm):
    url, payload = mirror
    checksum = f"{algorithm}:{hashlib.new(algorithm, payload).hexdigest()}"
    dest = download_file([url + "blob.bin"], tmp_path / "out" / "blob.bin", checksum)
    assert dest.read_bytes() == payload
    assert file_digest(dest, algorithm) == checksum.split(":")[1]
    assert [p.name for p in dest.parent.iterdir()] == ["blob.bin"]


def test_falls_back_to_next_mirror(tmp_path, mirror, closed_port_url):
    url, payload = mirror
    checksum = "md5:" + hashlib.md5(payload).hexdigest()
    urls = [closed_port_url + "blob.bin", url + "missing.bin", url + "blob.bin"]
    assert download_file(urls, tmp_path / "blob.bin", checksum).read_bytes() == payload


def test_mismatch_and_failures_listed(tmp_path, mirror, closed_port_url):
    url, _ = mirror
    urls = [closed_port_url + "blob.bin", url + "missing.bin", url + "blob.bin"]
    with pytest.raises(DatasetError) as err:
        download_file(urls, tmp_path / "blob.bin", "sha256:" + "ab" * 32)
    text = str(err.value)
    assert "HTTP 404" in text and "checksum mismatch" in text and closed_port_url in text
    assert not any(tmp_path.glob("*blob.bin*")) and not any(tmp_path.glob(".*"))


def test_parse_checksum():
    assert parse_checksum("MD5:ABC".lower()) == ("md5", "abc")
    for bad in ["abc", "sha1:abc", "md5:"]:
        with pytest.raises(ValueError, match="md5:<hex>"):
            parse_checksum(bad)
