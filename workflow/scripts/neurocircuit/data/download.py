"""Retried, resumable, checksum-verified downloads of the published data files.

A download writes into ``<dest>.part`` and resumes it with an HTTP ``Range`` request after a
dropped connection; only a file whose MD5 matches is renamed to ``dest``, so an interrupted or
corrupt download never passes for complete. When no URL can be reached (offline), one
:class:`DataUnavailableError` says which file to put where.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from neurocircuit.data.registry import DatasetSpec, describe_missing, get_dataset_spec

USER_AGENT = "neurocircuit-workflow/0.1 (Python urllib)"
CHUNK_BYTES = 1 << 20
_LOG = logging.getLogger(__name__)


class DataUnavailableError(FileNotFoundError):
    """A data file is neither on disk nor downloadable; the message says where to put it."""


class ChecksumError(ValueError):
    """A file's MD5 differs from the published one; the message names the file."""


def md5_of_file(path: str | Path, chunk_bytes: int = CHUNK_BYTES) -> str:
    """Hex MD5 of a file's bytes, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_bytes), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_md5(path: str | Path, expected: str | None) -> None:
    """Raise :class:`ChecksumError` naming ``path`` when its MD5 is not ``expected``."""
    if expected is None:
        return
    actual = md5_of_file(path)
    if actual != expected.lower():
        raise ChecksumError(
            f"{path}: checksum mismatch (MD5 {actual}, expected {expected}); the file is corrupt "
            "or not the published one: delete it and download it again"
        )


def fetch_checksum_list(url: str, timeout_s: float = 30.0) -> dict[str, str] | None:
    """Parse a published ``md5sums.txt`` (``<md5>  <file name>`` per line); None if unreachable."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            text = response.read().decode("utf-8", errors="replace")
    except (OSError, urllib.error.URLError):
        return None
    sums = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and len(parts[0]) == 32:
            sums[Path(parts[1].lstrip("*")).name] = parts[0].lower()
    return sums


def _transfer(url: str, part: Path, timeout_s: float, chunk_bytes: int) -> None:
    """Append ``url``'s remaining bytes to ``part`` (HTTP Range from its current size)."""
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
        mode = "ab" if offset and status == 206 else "wb"  # 200: server ignored Range
        with open(part, mode) as fh:
            for block in iter(lambda: response.read(chunk_bytes), b""):
                fh.write(block)
        expected_length = response.headers.get("Content-Length")
    if expected_length is not None:
        start = offset if mode == "ab" else 0
        if part.stat().st_size != start + int(expected_length):
            raise ConnectionError(f"{url}: connection closed before the end of the file")


def download_file(
    urls: Sequence[str],
    dest: str | Path,
    *,
    md5: str | None = None,
    retries: int = 3,
    timeout_s: float = 60.0,
    backoff_s: float = 2.0,
    chunk_bytes: int = CHUNK_BYTES,
    missing_hint: str = "",
    logger: logging.Logger | None = None,
) -> Path:
    """Download ``dest`` from the first of ``urls`` that works and check its MD5.

    Each URL is tried ``retries`` times with exponential back-off (``backoff_s``, 2×, 4×, ...
    seconds); a broken transfer resumes from ``<dest>.part``. An existing ``dest`` whose MD5
    matches is kept. A checksum mismatch after a full download raises :class:`ChecksumError`
    (the bad ``.part`` is deleted); when no URL answers, :class:`DataUnavailableError` carries
    ``missing_hint`` (which files to put where).
    """
    log = logger or _LOG
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file():
        try:
            verify_md5(dest, md5)
            log.info("%s already present and verified", dest)
            return dest
        except ChecksumError:
            log.warning("%s exists but its checksum is wrong: downloading it again", dest)
    part = dest.with_name(dest.name + ".part")
    errors: list[str] = []
    for url in urls:
        for attempt in range(1, retries + 1):
            try:
                resumed = part.exists() and part.stat().st_size > 0
                log.info(
                    "downloading %s (attempt %d/%d%s)",
                    url,
                    attempt,
                    retries,
                    ", resuming" if resumed else "",
                )
                _transfer(url, part, timeout_s, chunk_bytes)
            except urllib.error.HTTPError as error:
                errors.append(f"{url}: HTTP {error.code}")
                if 400 <= error.code < 500 and error.code not in (408, 429):
                    break  # this URL will not work: try the next one
            except (OSError, urllib.error.URLError) as error:
                errors.append(f"{url}: {getattr(error, 'reason', error)}")
            else:
                try:
                    verify_md5(part, md5)
                except ChecksumError:
                    actual = md5_of_file(part)
                    part.unlink()
                    if resumed:  # a resumed file may be spliced wrongly: one fresh try
                        errors.append(f"{url}: checksum mismatch after resuming; restarting")
                        continue
                    raise ChecksumError(
                        f"{dest.name}: checksum mismatch after download from {url} (MD5 {actual},"
                        f" expected {md5}); nothing was kept"
                    ) from None
                os.replace(part, dest)
                log.info("saved %s (%d bytes, MD5 verified)", dest, dest.stat().st_size)
                return dest
            if attempt < retries:
                time.sleep(backoff_s * 2 ** (attempt - 1))
    detail = "; ".join(errors[-3:])
    hint = f" {missing_hint}" if missing_hint else ""
    raise DataUnavailableError(
        f"could not download {dest.name} into {dest.parent} (offline? last errors: {detail}).{hint}"
    )


def download_dataset_file(
    dataset: str,
    file_name: str,
    dest: str | Path,
    *,
    data_dir: str | Path | None = None,
    retries: int = 3,
    timeout_s: float = 60.0,
    logger: logging.Logger | None = None,
) -> Path:
    """Download one published file of ``dataset`` (by its published name) to ``dest``.

    The expected MD5 comes from the data set's published checksum list when the site offers
    one and it can be fetched, else from the pinned value in the registry.
    """
    spec: DatasetSpec = get_dataset_spec(dataset)
    data_file = spec.by_name(file_name)
    expected = data_file.md5
    if spec.checksum_list_url:
        published = fetch_checksum_list(spec.checksum_list_url, timeout_s=timeout_s)
        if published and file_name in published:
            if expected and published[file_name] != expected:
                (logger or _LOG).warning(
                    "%s: the published MD5 (%s) differs from the pinned one (%s); using the "
                    "published one",
                    file_name,
                    published[file_name],
                    expected,
                )
            expected = published[file_name]
    return download_file(
        data_file.urls,
        dest,
        md5=expected,
        retries=retries,
        timeout_s=timeout_s,
        missing_hint=describe_missing(spec, data_dir, Path(dest).parent.parent),
        logger=logger,
    )
