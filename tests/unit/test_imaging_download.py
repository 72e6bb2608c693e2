"""The real suite2p example folder download: checksums verified, nothing partial left behind, and
an offline error saying where to put the files. A local HTTP server on 127.0.0.1 stands in for
GitHub."""

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from helpers.file_server import closed_port_url, serving
from neurocircuit.download import ChecksumError, DataUnavailableError, file_digest
from neurocircuit.imaging.download import PYNAPPLE_SUITE2P_FILES, fetch_suite2p_example
from neurocircuit.imaging.readers import load_suite2p_folder


def npy_bytes(value) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, value, allow_pickle=True)
    return buffer.getvalue()


def example_arrays():
    stat = np.array([{"ypix": np.array([1]), "xpix": np.array([2]), "med": [1, 2]}] * 3)
    return {
        "F.npy": np.ones((3, 20), np.float32),
        "Fneu.npy": np.zeros((3, 20), np.float32),
        "iscell.npy": np.ones((3, 2)),
        "stat.npy": stat,
    }


@pytest.fixture
def example_server():
    """Serves the example arrays at /<commit>/<name>; yields (server, URL template, files)."""
    served, files = {}, {}
    for name, value in example_arrays().items():
        data = npy_bytes(value)
        served[f"/c0ffee/{name}"] = data
        files[name] = ("c0ffee", hashlib.sha256(data).hexdigest())
    with serving(served) as server:
        yield server, server.url_for("/{commit}/{name}"), files


def test_fetch_verifies_and_produces_a_suite2p_folder(tmp_path, example_server):
    _, template, files = example_server
    out = fetch_suite2p_example(tmp_path / "resources" / "s2p", files, template)
    planes = load_suite2p_folder(out)
    assert len(planes) == 1 and planes[0].F.shape == (3, 20)
    assert sorted(p.name for p in (tmp_path / "resources").iterdir()) == ["s2p"]
    assert sorted(p.name for p in (out / "plane0").iterdir()) == sorted(files)


def test_checksum_mismatch_names_the_file_and_leaves_nothing(tmp_path, example_server):
    _, template, files = example_server
    files["iscell.npy"] = ("c0ffee", "0" * 64)
    with pytest.raises(ChecksumError, match="iscell.npy: checksum mismatch"):
        fetch_suite2p_example(tmp_path / "resources" / "s2p", files, template)
    assert list((tmp_path / "resources").iterdir()) == []


def test_dropped_connection_is_resumed(tmp_path, example_server):
    server, template, files = example_server
    server.drop_after, server.drops = 100, 1
    out = fetch_suite2p_example(tmp_path / "s2p", files, template, backoff_s=0)
    assert server.ranges[:2] == [None, "bytes=100-"]
    assert len(load_suite2p_folder(out)) == 1


def test_offline_says_where_to_put_the_files_and_leaves_nothing(tmp_path):
    files = {"F.npy": ("c0ffee", "0" * 64)}
    template = closed_port_url("/{commit}/{name}")
    with pytest.raises(DataUnavailableError) as info:
        fetch_suite2p_example(tmp_path / "resources" / "s2p", files, template, retries=1)
    assert f"into {tmp_path / 'resources' / 's2p' / 'plane0'}/ by hand" in str(info.value)
    assert list((tmp_path / "resources").iterdir()) == []


def test_pinned_checksums_match_the_shared_copy():
    folder = Path(__file__).resolve().parents[2].parent / "shared/data/suite2p_pynapple/plane0"
    if not folder.is_dir():
        pytest.skip(f"real suite2p folder absent: {folder}")
    for name, (_, sha256) in PYNAPPLE_SUITE2P_FILES.items():
        assert file_digest(folder / name, "sha256") == sha256, name
