"""The zebrafish recording (NeuroTorch_PaperWithCode, MIT): downloaded, resumable, sha256-checked.

The workflow reads ``data_dir/zebrafish/<file name>`` when that file exists and downloads it into
``resources_dir/zebrafish/`` otherwise, so a machine without internet access needs the file in
either folder; the offline error names both.
"""

from __future__ import annotations

import logging
from pathlib import Path

from neurocircuit.download import download_file

DATA_DIR_SUBFOLDER = "zebrafish"


def zebrafish_missing_hint(dest: str | Path, data_dir: str | Path | None) -> str:
    """Where to put the recording by hand: ``dest``'s folder, or ``data_dir/zebrafish/`` (both
    as absolute paths, so the message holds whatever folder it is read from)."""
    dest = Path(dest).absolute()
    if data_dir:
        other = f"{Path(data_dir).absolute() / DATA_DIR_SUBFOLDER}/"
    else:
        other = f"<data_dir>/{DATA_DIR_SUBFOLDER}/ (set data_dir in the config)"
    return (
        f"Put {dest.name} by hand into {dest.parent}/ or into {other}, where the workflow reads "
        "it when it exists, and run again."
    )


def download_zebrafish_recording(
    url: str,
    dest: str | Path,
    *,
    sha256: str,
    data_dir: str | Path | None = None,
    retries: int = 3,
    backoff_s: float = 2.0,
    logger: logging.Logger | None = None,
) -> Path:
    """Download the recording from ``url`` to ``dest``; it appears only once its sha256 matches.

    A rerun resumes ``<dest>.part``. Offline, DataUnavailableError says to put the file into
    ``dest``'s folder or ``data_dir/zebrafish/``; ``retries`` and ``backoff_s`` (s) as in
    :func:`neurocircuit.download.download_file`.
    """
    return download_file(
        url,
        dest,
        sha256=sha256,
        retries=retries,
        backoff_s=backoff_s,
        missing_hint=zebrafish_missing_hint(dest, data_dir),
        logger=logger,
    )
