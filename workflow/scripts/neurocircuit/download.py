"""The one downloader of the workflow: retried, resumable, checksum-verified, clear when offline.

Every data set goes through :func:`download_file`: the classification files (MD5, from the
registry), the suite2p example folder and the zebrafish recording (sha256). Bytes go into
``<dest>.part``, which a later try (or a later run) resumes with an HTTP ``Range`` request; the
final name appears only once every given checksum matches, so an interrupted or corrupt download
never passes for complete. When no URL can be reached (offline), one
:class:`DataUnavailableError` says which file to put where.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

USER_AGENT = "neurocircuit-workflow/0.1 (Python urllib)"
CHUNK_BYTES = 1 << 20
_LOG = logging.getLogger(__name__)


class DataUnavailableError(FileNotFoundError):
    """A data file is neither on disk nor downloadable; the message says where to put it."""


class ChecksumError(ValueError):
    """A file's checksum differs from the published one; the message names the file."""


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes with ``algorithm`` ("sha256", "md5", or any hashlib name)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, algorithm).hexdigest()


def checksum_mismatch(path: str | Path, expected: dict[str, str]) -> str | None:
    """None when ``path`` matches every ``{algorithm: hex digest}`` in ``expected``; else what
    differs ("sha256 <found>, expected <wanted>")."""
    for algorithm, wanted in expected.items():
        found = file_digest(path, algorithm)
        if found != wanted.lower():
            return f"{algorithm} {found}, expected {wanted.lower()}"
    return None


def _expected_digests(sha256: str | None, md5: str | None) -> dict[str, str]:
    return {name: value for name, value in (("sha256", sha256), ("md5", md5)) if value}


def _transfer(url: str, part: Path, timeout_s: float, chunk_bytes: int) -> None:
    """Append ``url``'s remaining bytes to ``part`` (HTTP Range from its current size).

    Raises ConnectionError when the server closes the connection before the announced length.
    """
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # already complete (or the .part is longer): restart
            part.unlink()
            return _transfer(url, part, timeout_s, chunk_bytes)
        raise
    with response:
        status = getattr(response, "status", 200)
        mode = "ab" if offset and status == 206 else "wb"  # 200: the server ignored Range
        with open(part, mode) as fh:
            for block in iter(lambda: response.read(chunk_bytes), b""):
                fh.write(block)
        expected_length = response.headers.get("Content-Length")
    if expected_length is not None:
        start = offset if mode == "ab" else 0
        if part.stat().st_size != start + int(expected_length):
            raise ConnectionError(f"{url}: connection closed before the end of the file")


def _fetch_verified(
    url: str,
    part: Path,
    dest: Path,
    expected: dict[str, str],
    timeout_s: float,
    chunk_bytes: int,
    log: logging.Logger,
) -> None:
    """Complete ``part`` from ``url`` and check it; a resumed file that fails the checksum
    (spliced from two versions, say) is fetched once more from byte 0. A fresh file that fails
    raises :class:`ChecksumError` and is deleted."""
    resumed = part.exists() and part.stat().st_size > 0
    _transfer(url, part, timeout_s, chunk_bytes)
    mismatch = checksum_mismatch(part, expected)
    if mismatch and resumed:
        log.warning("%s: checksum mismatch after resuming (%s); starting over", dest, mismatch)
        part.unlink()
        _transfer(url, part, timeout_s, chunk_bytes)
        mismatch = checksum_mismatch(part, expected)
    if mismatch:
        part.unlink()
        raise ChecksumError(
            f"{dest}: checksum mismatch after download from {url} ({mismatch}); nothing was kept"
        )


def download_file(
    urls: str | Sequence[str],
    dest: str | Path,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    retries: int = 3,
    timeout_s: float = 60.0,
    backoff_s: float = 2.0,
    chunk_bytes: int = CHUNK_BYTES,
    missing_hint: str = "",
    logger: logging.Logger | None = None,
) -> Path:
    """Download ``dest`` from the first of ``urls`` (one URL or several mirrors) that works.

    Each URL is tried ``retries`` times, ``timeout_s`` seconds per connection, with exponential
    back-off (``backoff_s``, 2×, 4×, ... seconds); a 4xx answer other than 408/429 moves on to the
    next URL at once. A broken transfer resumes from ``<dest>.part``. Every checksum given
    (``sha256``, ``md5``; hex) must match before ``dest`` appears; with none, any complete file is
    accepted. An existing ``dest`` that matches is kept without a request; one that does not is
    downloaded again.

    Raises:
        ChecksumError: a complete download does not match (nothing is kept); names the file.
        DataUnavailableError: no URL answered (offline); the message ends with ``missing_hint``
            (which files to put where) or, without one, says to put ``dest`` there by hand.
    """
    urls = (urls,) if isinstance(urls, str) else tuple(urls)
    log = logger or _LOG
    dest = Path(dest)
    expected = _expected_digests(sha256, md5)
    checked = "/".join(expected) or "no checksum"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file():
        mismatch = checksum_mismatch(dest, expected)
        if mismatch is None:
            log.info("%s already present (%s verified)", dest, checked)
            return dest
        log.warning(
            "%s exists but its checksum is wrong (%s): downloading it again", dest, mismatch
        )
    part = dest.with_name(dest.name + ".part")
    errors: list[str] = []
    for url in urls:
        for attempt in range(1, retries + 1):
            resumed = part.exists() and part.stat().st_size > 0
            log.info(
                "downloading %s (attempt %d/%d%s)",
                url,
                attempt,
                retries,
                f", resuming after {part.stat().st_size} bytes" if resumed else "",
            )
            try:
                _fetch_verified(url, part, dest, expected, timeout_s, chunk_bytes, log)
            except urllib.error.HTTPError as error:
                errors.append(f"{url}: HTTP {error.code}")
                if 400 <= error.code < 500 and error.code not in (408, 429):
                    break  # this URL will not work: try the next one
            except (OSError, http.client.HTTPException) as error:
                errors.append(f"{url}: {getattr(error, 'reason', None) or error}")
            else:
                os.replace(part, dest)
                log.info("saved %s (%d bytes, %s verified)", dest, dest.stat().st_size, checked)
                return dest
            if attempt < retries:
                time.sleep(backoff_s * 2 ** (attempt - 1))
    detail = "; ".join(errors[-3:]) or "no URL given"
    hint = missing_hint or f"Put {dest.name} into {dest.parent.absolute()}/ by hand and run again."
    raise DataUnavailableError(
        f"could not download {dest.name} into {dest.parent} (offline? last errors: {detail}). "
        f"{hint}"
    )
