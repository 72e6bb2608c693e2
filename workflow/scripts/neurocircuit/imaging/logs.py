"""Error reporting of the imaging rules: the one-line cause goes into the rule's log too."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def errors_logged(logger) -> Iterator[None]:
    """Log any exception's one-line message (e.g. "movie.tif: truncated TIFF ...") and re-raise.

    Snakemake prints the traceback on its own output; the rule's log then ends with the cause.
    """
    try:
        yield
    except Exception as error:
        logger.error("%s: %s", type(error).__name__, error)
        raise
