"""The real suite2p example folder download: checksums verified, nothing partial left behind."""

from pathlib import Path

import numpy as np
import pytest
from neurocircuit.imaging.download import (
    PYNAPPLE_SUITE2P_FILES,
    fetch_suite2p_example,
    sha256_of,
)
from neurocircuit.imaging.readers import load_suite2p_folder


def serve(folder: Path, arrays: dict) -> tuple[str, dict]:
    """Write ``arrays`` as .npy into ``folder``; return a file:// URL template and checksums."""
    folder.mkdir()
    files = {}
    for name, value in arrays.items():
        np.save(folder / name, value, allow_pickle=True)
        files[name] = ("c0ffee", sha256_of(folder / name))
    return folder.as_uri() + "/{name}", files


def example_arrays():
    stat = np.array([{"ypix": np.array([1]), "xpix": np.array([2]), "med": [1, 2]}] * 3)
    return {
        "F.npy": np.ones((3, 20), np.float32),
        "Fneu.npy": np.zeros((3, 20), np.float32),
        "iscell.npy": np.ones((3, 2)),
        "stat.npy": stat,
    }


def test_fetch_verifies_and_produces_a_suite2p_folder(tmp_path):
    template, files = serve(tmp_path / "server", example_arrays())
    out = fetch_suite2p_example(tmp_path / "resources" / "s2p", files, template)
    planes = load_suite2p_folder(out)
    assert len(planes) == 1 and planes[0].F.shape == (3, 20)
    assert sorted(p.name for p in (tmp_path / "resources").iterdir()) == ["s2p"]


def test_checksum_mismatch_names_the_file_and_leaves_nothing(tmp_path):
    template, files = serve(tmp_path / "server", example_arrays())
    files["iscell.npy"] = ("c0ffee", "0" * 64)
    with pytest.raises(ValueError, match="iscell.npy: checksum mismatch"):
        fetch_suite2p_example(tmp_path / "resources" / "s2p", files, template)
    assert list((tmp_path / "resources").iterdir()) == []


def test_pinned_checksums_match_the_shared_copy():
    folder = Path(__file__).resolve().parents[2].parent / "shared/data/suite2p_pynapple/plane0"
    if not folder.is_dir():
        pytest.skip(f"real suite2p folder absent: {folder}")
    for name, (_, sha256) in PYNAPPLE_SUITE2P_FILES.items():
        assert sha256_of(folder / name) == sha256, name
