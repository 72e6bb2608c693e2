"""scikit-learn's digits, read from the file inside the package: the same data as load_digits."""

import numpy as np
from neurocircuit.data.digits import load_digits_dataset, read_digits


def test_read_digits_equals_scikit_learn():
    from sklearn.datasets import load_digits

    images, labels = read_digits()
    reference = load_digits()
    np.testing.assert_array_equal(images, reference.images)
    np.testing.assert_array_equal(labels, reference.target)


def test_digits_split_is_stratified_and_scaled_to_uint8():
    data = load_digits_dataset(test_fraction=0.2, split_seed=0)
    assert len(data.train_labels) + len(data.test_labels) == 1797
    assert len(data.test_labels) == 359
    assert data.train_images.shape[1:] == (8, 8) and data.train_images.dtype == np.uint8
    assert data.train_images.max() == 255 and data.train_images.min() == 0
    per_class = np.bincount(data.test_labels)
    assert per_class.min() >= 35 and per_class.max() <= 37
    again = load_digits_dataset(test_fraction=0.2, split_seed=0)
    np.testing.assert_array_equal(data.test_images, again.test_images)
