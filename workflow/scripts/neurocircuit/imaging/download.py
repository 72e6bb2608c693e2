"""Download the real suite2p example folder used by the full configuration.

The folder is the test data of pynapple (MIT License): a real two-photon recording processed by
suite2p (219 ROIs, 20 cells, 2,000 frames at 10 Hz), published in the pynapple repository under
``tests/nwbfilestest/suite2p/suite2p/plane0/``. Each file is fetched from a pinned commit and
checked against its sha256; a mismatch is an error naming the file, and the folder appears only
when every file passed (written under a temporary name, then renamed).
"""

from __future__ import annotations

from pathlib import Path

from neurocircuit.download import download_file
from neurocircuit.runtime import atomic_folder

PYNAPPLE_URL = (
    "https://raw.githubusercontent.com/pynapple-org/pynapple/{commit}/"
    "tests/nwbfilestest/suite2p/suite2p/plane0/{name}"
)
PYNAPPLE_SUITE2P_FILES = {
    "F.npy": (
        "7d0748aaa75c1e15a0395ee20e9ad7e821e8bd5a",
        "98b6facdb1cb24138f0677eb62c090d0c9252ba2c3c0bf3f6f51c2debfcd9625",
    ),
    "Fneu.npy": (
        "dfeb5fe0346b5e386c70dca0abc6ee4f92483625",
        "374981b9fbc1ef0cbba0ccfb91bc53a7ecfe4bff64cf5c9d0381bce32fa3a06e",
    ),
    "iscell.npy": (
        "7ea1345e1a2f04168d5fe05708ab65a10866c365",
        "cc109d5fffd172d3d9f39fdc077bf50df744eecc63223438e1f5caf41d780faf",
    ),
    "spks.npy": (
        "dfeb5fe0346b5e386c70dca0abc6ee4f92483625",
        "d300e5974c9a46516a8a40d36eaa8a663e55376e69edcc560d6642a2e03f7f84",
    ),
    "stat.npy": (
        "c99a9221d56cdbef433c7098cef63af80a938f5e",
        "5cbae5581fa28ab665f0e5f39f3a48b6a4c89c873e58ebe4f5fe1948e8777ed5",
    ),
}


def fetch_suite2p_example(
    out_folder: str | Path,
    files: dict | None = None,
    url_template: str = PYNAPPLE_URL,
    logger=None,
    *,
    retries: int = 3,
    backoff_s: float = 2.0,
) -> Path:
    """Write ``out_folder``/plane0/{F,Fneu,iscell,spks,stat}.npy, every file checksum-verified.

    ``files`` maps a file name to (commit, sha256); ``url_template`` takes ``{commit}`` and
    ``{name}``. The files are downloaded into a temporary folder beside ``out_folder`` that is
    renamed to ``out_folder`` only when every file passed; a mismatch raises ChecksumError (a
    ValueError) naming the file, and no URL answering raises DataUnavailableError saying where
    to put the files by hand. ``retries`` and ``backoff_s`` (s) as in download_file.
    """
    out_folder = Path(out_folder)
    files = PYNAPPLE_SUITE2P_FILES if files is None else files
    hint = (
        f"Put {', '.join(files)} from the pynapple repository "
        "(tests/nwbfilestest/suite2p/suite2p/plane0/) into "
        f"{out_folder / 'plane0'}/ by hand and run again."
    )
    with atomic_folder(out_folder) as work:
        for name, (commit, sha256) in files.items():
            download_file(
                url_template.format(commit=commit, name=name),
                work / "plane0" / name,
                sha256=sha256,
                retries=retries,
                backoff_s=backoff_s,
                missing_hint=hint,
                logger=logger,
            )
    return out_folder
