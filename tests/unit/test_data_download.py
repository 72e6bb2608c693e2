"""Downloads of the classification data sets' files: which checksum a file must match (published
list or pinned value), and one offline error listing every file and folder. The transfer itself
is tested in test_download.py; here the network is a local HTTP server or refused outright."""

import hashlib

import pytest
from helpers.file_server import serving
from neurocircuit.data import download
from neurocircuit.data.download import download_dataset_file, fetch_checksum_list
from neurocircuit.data.registry import get_dataset_spec
from neurocircuit.download import ChecksumError, DataUnavailableError

PAYLOAD = bytes(range(256)) * 40


@pytest.fixture
def offline(monkeypatch):
    """Every request is refused and back-off sleeps are skipped."""
    import neurocircuit.download as transfer

    def refuse(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(transfer.urllib.request, "urlopen", refuse)
    monkeypatch.setattr(transfer.time, "sleep", lambda seconds: None)


def test_checksum_list_is_parsed_by_file_name():
    listing = (
        f"{'a' * 32}  shd_train.h5.gz\n{'B' * 32} *./sub/shd_test.h5.gz\nnot a checksum line\n"
    ).encode()
    with serving({"/md5sums.txt": listing}) as server:
        sums = fetch_checksum_list(server.url)
    assert sums == {"shd_train.h5.gz": "a" * 32, "shd_test.h5.gz": "b" * 32}


def test_unreachable_checksum_list_is_none(offline):
    assert fetch_checksum_list("https://example.org/md5sums.txt") is None


def test_published_checksum_takes_precedence_over_the_pinned_one(tmp_path, monkeypatch):
    """SHD's site publishes md5sums.txt; a file that matches it (not the pinned MD5) is kept."""
    name = "shd_test.h5.gz"
    listing = f"{hashlib.md5(PAYLOAD).hexdigest()}  {name}\n".encode()
    with serving({"/md5sums.txt": listing, f"/{name}": PAYLOAD}) as server:
        spec = get_dataset_spec("shd")
        data_file = spec.by_name(name)
        monkeypatch.setattr(download, "get_dataset_spec", lambda dataset: _with_urls(spec, server))
        assert data_file.md5 != hashlib.md5(PAYLOAD).hexdigest()
        dest = download_dataset_file("shd", name, tmp_path / "resources" / "shd" / name)
    assert dest.read_bytes() == PAYLOAD


def test_pinned_checksum_is_used_without_a_published_list(tmp_path, monkeypatch):
    name = "shd_test.h5.gz"
    with serving({f"/{name}": PAYLOAD}) as server:  # md5sums.txt is 404
        spec = _with_urls(get_dataset_spec("shd"), server)
        monkeypatch.setattr(download, "get_dataset_spec", lambda dataset: spec)
        with pytest.raises(ChecksumError, match=f"{name}: checksum mismatch"):
            download_dataset_file("shd", name, tmp_path / name, retries=1)
    assert list(tmp_path.iterdir()) == []


def test_dataset_file_offline_lists_every_file_and_folder(tmp_path, offline):
    dest = tmp_path / "resources" / "mnist" / "t10k-labels-idx1-ubyte.gz"
    with pytest.raises(DataUnavailableError) as info:
        download_dataset_file("mnist", "t10k-labels-idx1-ubyte.gz", dest, data_dir=tmp_path / "d")
    message = str(info.value)
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert name in message
    assert str(tmp_path / "d" / "mnist") in message
    assert str(tmp_path / "resources" / "mnist") in message


def test_unknown_file_of_a_dataset_is_rejected(tmp_path):
    with pytest.raises(KeyError, match="no file named 'nope.gz'"):
        download_dataset_file("mnist", "nope.gz", tmp_path / "nope.gz")


def _with_urls(spec, server):
    """``spec`` with every file and its checksum list served by ``server``."""
    import dataclasses

    files = tuple(dataclasses.replace(f, urls=(server.url_for(f"/{f.name}"),)) for f in spec.files)
    return dataclasses.replace(spec, files=files, checksum_list_url=server.url_for("/md5sums.txt"))
