"""The one downloader: checksum-verified (sha256, MD5, both), retried, resumed after a dropped
connection, and one clear error when offline. A local HTTP server on 127.0.0.1 (with Range
support) stands in for the mirrors."""

import hashlib

import pytest
from helpers.file_server import closed_port_url, serving
from neurocircuit.download import (
    ChecksumError,
    DataUnavailableError,
    download_file,
    file_digest,
)

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
FILES = {"/file": PAYLOAD}


@pytest.fixture
def server():
    with serving(FILES) as running:
        yield running


def part_of(dest):
    return dest.with_name(dest.name + ".part")


def test_file_digest_golden_values(tmp_path):
    path = tmp_path / "abc"
    path.write_bytes(b"abc")
    assert file_digest(path, "md5") == "900150983cd24fb0d6963f7d28e17f72"
    sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert file_digest(path) == file_digest(path, "sha256") == sha256


@pytest.mark.parametrize(
    "checksums",
    [
        {"md5": PAYLOAD_MD5},
        {"sha256": PAYLOAD_SHA256},
        {"md5": PAYLOAD_MD5, "sha256": PAYLOAD_SHA256},
        {"sha256": PAYLOAD_SHA256.upper()},
    ],
    ids=["md5", "sha256", "both", "upper-case"],
)
def test_download_verifies_and_renames(tmp_path, server, checksums):
    dest = tmp_path / "data" / "file.gz"
    assert download_file(server.url, dest, backoff_s=0, **checksums) == dest
    assert dest.read_bytes() == PAYLOAD
    assert list(dest.parent.iterdir()) == [dest]


@pytest.mark.parametrize(
    ("checksums", "named"),
    [
        ({"md5": "0" * 32}, "md5"),
        ({"sha256": "0" * 64}, "sha256"),
        ({"md5": PAYLOAD_MD5, "sha256": "0" * 64}, "sha256"),
        ({"md5": "0" * 32, "sha256": PAYLOAD_SHA256}, "md5"),
    ],
    ids=["md5", "sha256", "sha256-of-both", "md5-of-both"],
)
def test_checksum_mismatch_names_the_file_and_keeps_nothing(tmp_path, server, checksums, named):
    dest = tmp_path / "train-images-idx3-ubyte.gz"
    with pytest.raises(ChecksumError, match=f"{dest.name}: checksum mismatch") as info:
        download_file(server.url, dest, backoff_s=0, **checksums)
    assert f"({named} " in str(info.value)
    assert isinstance(info.value, ValueError)
    assert list(tmp_path.iterdir()) == []


def test_dropped_connection_is_resumed_with_a_range_request(tmp_path, server):
    server.drop_after, server.drops = 30_000, 1
    dest = tmp_path / "file.gz"
    download_file([server.url], dest, sha256=PAYLOAD_SHA256, backoff_s=0)
    assert dest.read_bytes() == PAYLOAD
    assert server.ranges == [None, "bytes=30000-"]


def test_partial_file_from_an_earlier_run_is_resumed(tmp_path, server):
    dest = tmp_path / "file.gz"
    part_of(dest).write_bytes(PAYLOAD[:50_000])
    download_file(server.url, dest, md5=PAYLOAD_MD5, backoff_s=0)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == [("/file", "bytes=50000-")]


def test_resumed_file_that_fails_the_checksum_gets_one_fresh_try(tmp_path, server):
    """A .part from another version of the file: resuming it splices two files together."""
    dest = tmp_path / "file.gz"
    part_of(dest).write_bytes(b"x" * 50_000)
    download_file(server.url, dest, sha256=PAYLOAD_SHA256, retries=1, backoff_s=0)
    assert dest.read_bytes() == PAYLOAD
    assert server.ranges == ["bytes=50000-", None]


def test_server_that_ignores_range_rewrites_the_partial_file(tmp_path, server):
    server.honour_range = False
    dest = tmp_path / "file.gz"
    part_of(dest).write_bytes(PAYLOAD[:50_000])
    download_file(server.url, dest, md5=PAYLOAD_MD5, retries=1, backoff_s=0)
    assert dest.read_bytes() == PAYLOAD


def test_partial_file_longer_than_the_file_is_restarted(tmp_path, server):
    """The server answers 416 (range not satisfiable): the .part is discarded, not trusted."""
    dest = tmp_path / "file.gz"
    part_of(dest).write_bytes(PAYLOAD + b"junk")
    download_file(server.url, dest, md5=PAYLOAD_MD5, retries=1, backoff_s=0)
    assert dest.read_bytes() == PAYLOAD
    assert server.ranges == [f"bytes={len(PAYLOAD) + 4}-", None]


def test_existing_verified_file_is_not_downloaded_again(tmp_path, server):
    dest = tmp_path / "file.gz"
    dest.write_bytes(PAYLOAD)
    download_file(server.url, dest, sha256=PAYLOAD_SHA256, md5=PAYLOAD_MD5, backoff_s=0)
    assert server.requests == []


def test_existing_corrupt_file_is_replaced(tmp_path, server):
    dest = tmp_path / "file.gz"
    dest.write_bytes(b"corrupt")
    download_file(server.url, dest, sha256=PAYLOAD_SHA256, backoff_s=0)
    assert dest.read_bytes() == PAYLOAD


def test_next_mirror_is_tried_after_a_404(tmp_path, server):
    dest = tmp_path / "file.gz"
    download_file(
        [server.url_for("/missing"), server.url], dest, md5=PAYLOAD_MD5, retries=3, backoff_s=0
    )
    assert [path for path, _ in server.requests] == ["/missing", "/file"]  # 404: no retry
    assert dest.read_bytes() == PAYLOAD


def test_offline_is_one_clear_error_saying_where_to_put_the_file(tmp_path):
    dest = tmp_path / "resources" / "mnist" / "train-images-idx3-ubyte.gz"
    with pytest.raises(DataUnavailableError) as info:
        download_file(
            [closed_port_url(), closed_port_url()],
            dest,
            md5=PAYLOAD_MD5,
            retries=2,
            backoff_s=0,
            missing_hint="put it into /data/mnist",
        )
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert "could not download train-images-idx3-ubyte.gz" in message
    assert message.endswith("put it into /data/mnist")
    assert "\n" not in message
    assert not dest.exists() and not part_of(dest).exists()


def test_offline_without_a_hint_says_to_put_the_file_into_its_folder(tmp_path):
    dest = tmp_path / "resources" / "recording.npy"
    with pytest.raises(DataUnavailableError) as info:
        download_file(closed_port_url(), dest, sha256=PAYLOAD_SHA256, retries=1, backoff_s=0)
    assert f"Put recording.npy into {dest.parent}/ by hand" in str(info.value)
