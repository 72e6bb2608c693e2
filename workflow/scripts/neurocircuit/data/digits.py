"""scikit-learn's handwritten digits: 1,797 real 8×8 images (values 0..16), shipped inside the
installed scikit-learn package, so the demo needs no download."""

from __future__ import annotations

import numpy as np

from neurocircuit.data.batches import stratified_split
from neurocircuit.data.idx import ImageData


def load_digits_dataset(*, test_fraction: float = 0.2, split_seed: int = 0) -> ImageData:
    """Digits as :class:`ImageData` (uint8 images 8×8 scaled 0..16 -> 0..255, labels 0..9).

    The data set has no official test split: a stratified ``test_fraction`` of it, chosen with
    ``split_seed``, is held out as the test set.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images / 16.0 * 255.0).astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    train_idx, test_idx = stratified_split(labels, test_fraction, split_seed)
    return ImageData(
        train_images=images[train_idx],
        train_labels=labels[train_idx],
        test_images=images[test_idx],
        test_labels=labels[test_idx],
        n_classes=10,
    )
