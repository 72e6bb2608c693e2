"""Downloads of the classification data sets' published files, by data set and file name.

What is specific to the registry lives here: which URLs a file has, and which MD5 it must match
(the data set's published checksum list when the site offers one, else the pinned value). The
transfer itself (retries, resume, verification, the offline error) is :mod:`neurocircuit.download`.
"""

from __future__ import annotations

import logging
import urllib.request
from pathlib import Path

from neurocircuit.data.registry import describe_missing, get_dataset_spec
from neurocircuit.download import USER_AGENT, download_file

_LOG = logging.getLogger(__name__)


def fetch_checksum_list(url: str, timeout_s: float = 30.0) -> dict[str, str] | None:
    """Parse a published ``md5sums.txt`` (``<md5>  <file name>`` per line); None if unreachable."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            text = response.read().decode("utf-8", errors="replace")
    except OSError:  # URLError, HTTPError and timeouts are OSErrors
        return None
    sums = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and len(parts[0]) == 32:
            sums[Path(parts[1].lstrip("*")).name] = parts[0].lower()
    return sums


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
    one and it can be fetched, else from the pinned value in the registry. Offline, the error
    lists every file of the data set and every folder the workflow would read them from.
    """
    spec = get_dataset_spec(dataset)
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
