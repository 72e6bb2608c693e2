"""scikit-learn's digits, read from the file inside the package: the same data as load_digits."""

import numpy as np
from neurocircuit.data.digits import load_digits_dataset, read_digits


def test_read_digits_equals_scikit_learn():
    from sklearn.datasets import load_digits

    images, labels = read_digits()
    reference = load_digits()
    np.testing.assert_array_equal(images, reference.images)
    np.testing.assert_array_equal(labels, reference.target)


def rows(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each sample as one row (64 pixels, then the label), rows sorted: a multiset to compare."""
    table = np.concatenate([images.reshape(len(images), -1), labels[:, None]], axis=1)
    return table[np.lexsort(table.T[::-1])]


def test_digits_split_is_stratified_disjoint_and_scaled_to_uint8():
    """Train and test together are the 1,797 samples, each exactly once (as a multiset of
    image-and-label rows: a sample in both splits, or in neither, changes it), 20 % of every
    class in the test split, pixels 0..16 scaled to 0..255."""
    data = load_digits_dataset(test_fraction=0.2, split_seed=0)
    assert len(data.test_labels) == 359 and len(data.train_labels) == 1797 - 359
    assert data.train_images.shape[1:] == (8, 8) and data.train_images.dtype == np.uint8
    assert data.train_images.max() == 255 and data.train_images.min() == 0
    images, labels = read_digits()
    both = [np.rint(split / 255.0 * 16.0) for split in (data.train_images, data.test_images)]
    np.testing.assert_array_equal(
        rows(np.concatenate(both), np.concatenate([data.train_labels, data.test_labels])),
        rows(images, labels),
    )
    per_class = np.bincount(data.test_labels)
    assert per_class.min() >= 35 and per_class.max() <= 37
    again = load_digits_dataset(test_fraction=0.2, split_seed=0)
    np.testing.assert_array_equal(data.test_images, again.test_images)
