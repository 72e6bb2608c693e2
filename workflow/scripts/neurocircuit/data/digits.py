"""scikit-learn's handwritten digits: 1,797 real 8×8 images (values 0..16), shipped inside the
installed scikit-learn package, so the demo needs no download."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from neurocircuit.data.batches import stratified_split
from neurocircuit.data.idx import ImageData

N_SAMPLES = 1797


def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """Images (1797, 8, 8) with values 0..16 and labels (1797,) from scikit-learn's data file.

    Reads ``sklearn/datasets/data/digits.csv.gz`` (64 pixel columns, then the label) directly,
    which avoids importing scikit-learn (seconds); falls back to ``load_digits`` otherwise.
    """
    spec = importlib.util.find_spec("sklearn")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            table = np.loadtxt(path, delimiter=",")
            if table.shape == (N_SAMPLES, 65):
                return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images, bunch.target.astype(np.int64)


def load_digits_dataset(*, test_fraction: float = 0.2, split_seed: int = 0) -> ImageData:
    """Digits as :class:`ImageData` (uint8 images 8×8 scaled 0..16 -> 0..255, labels 0..9).

    The data set has no official test split: a stratified ``test_fraction`` of it, chosen with
    ``split_seed``, is held out as the test set.
    """
    raw_images, labels = read_digits()
    images = np.rint(raw_images / 16.0 * 255.0).astype(np.uint8)
    train_idx, test_idx = stratified_split(labels, test_fraction, split_seed)
    return ImageData(
        train_images=images[train_idx],
        train_labels=labels[train_idx],
        test_images=images[test_idx],
        test_labels=labels[test_idx],
        n_classes=10,
    )
