"""The zebrafish recording's download: sha256-checked, and offline it names both folders the
workflow reads the recording from (the download folder and data_dir/zebrafish/)."""

import hashlib

import pytest
from helpers.file_server import closed_port_url, serving
from neurocircuit.download import ChecksumError, DataUnavailableError
from neurocircuit.fit.download import download_zebrafish_recording

NAME = "Stimulus_data_2022_02_23_fish3_1.npy"
PAYLOAD = b"\x93NUMPY" + bytes(range(256)) * 8


def test_recording_is_downloaded_and_checked(tmp_path):
    dest = tmp_path / "resources" / "zebrafish" / NAME
    with serving({f"/{NAME}": PAYLOAD}) as server:
        sha256 = hashlib.sha256(PAYLOAD).hexdigest()
        download_zebrafish_recording(server.url, dest, sha256=sha256, backoff_s=0)
        assert dest.read_bytes() == PAYLOAD
        with pytest.raises(ChecksumError, match=f"{NAME}: checksum mismatch"):
            download_zebrafish_recording(server.url, tmp_path / NAME, sha256="0" * 64, retries=1)


def test_offline_names_the_download_folder_and_data_dir(tmp_path):
    dest = tmp_path / "resources" / "zebrafish" / NAME
    with pytest.raises(DataUnavailableError) as info:
        download_zebrafish_recording(
            closed_port_url(), dest, sha256="0" * 64, data_dir=tmp_path / "data", retries=1
        )
    folders = f"{dest.parent}/ or into {tmp_path / 'data' / 'zebrafish'}/"
    assert f"Put {NAME} by hand into {folders}" in str(info.value)
    assert not dest.exists()


def test_offline_without_data_dir_says_how_to_set_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataUnavailableError) as info:
        download_zebrafish_recording(
            closed_port_url(), f"resources/zebrafish/{NAME}", sha256="0" * 64, retries=1
        )
    message = str(info.value)
    assert f"into {tmp_path / 'resources' / 'zebrafish'}/" in message  # absolute
    assert "<data_dir>/zebrafish/ (set data_dir in the config)" in message
