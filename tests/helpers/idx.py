"""Writing idx files (the MNIST format) for tests: the library only reads them."""

import gzip
from pathlib import Path

import numpy as np
from neurocircuit.data.idx import IDX_TYPES


def write_idx(array: np.ndarray, path: str | Path) -> Path:
    """Write ``array`` as an idx file (gzipped when ``path`` ends in ``.gz``)."""
    codes = {np.dtype(v).newbyteorder("="): k for k, v in IDX_TYPES.items()}
    array = np.asarray(array)
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"write_idx: dtype {array.dtype} has no idx type code")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.astype(IDX_TYPES[code]).tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as fh:
            fh.write(payload)
    else:
        path.write_bytes(payload)
    return path
