"""The data of one classification run: train / validation / test splits as seeded spike batches.

The validation split is a stratified fraction of the training set drawn with ``split_seed``
(the same for every run); ``max_train_samples`` keeps a stratified subset of the rest. Images
are encoded as spikes on the fly (latency, Poisson or LIF-current codes); SHD's events are
binned into ``n_steps`` time bins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from neurocircuit.data.registry import get_dataset_spec


@dataclass
class ClassificationData:
    """Batches of the three splits and the data set's shape."""

    train: object
    val: object
    test: object
    train_eval: object
    n_inputs: int
    n_classes: int
    sizes: dict


def _encoder_params(settings: Mapping) -> dict:
    """Keyword arguments of the image encoder named by ``settings["encoding"]``."""
    encoding = settings["encoding"]
    if encoding == "latency":
        return {
            "tau_steps": settings["latency_tau_ms"] / settings["dt_ms"],
            "threshold": settings["latency_threshold"],
        }
    if encoding == "lif_current":
        return {
            "dt_ms": settings["dt_ms"],
            "tau_mem_ms": settings["current_tau_ms"],
            "gain": settings["current_gain"],
        }
    return {"max_rate_hz": settings["poisson_max_rate_hz"], "dt_ms": settings["dt_ms"]}


def _subsample(labels, indices, max_samples: int | None, seed: int):
    """A stratified subset of ``indices`` of at most ``max_samples`` (all when None)."""
    import numpy as np

    from neurocircuit.data.batches import stratified_split

    if max_samples is None or max_samples >= len(indices):
        return indices
    _, kept = stratified_split(labels[indices], max_samples / len(indices), seed)
    return np.sort(indices[kept])


def _train_val_indices(labels, settings: Mapping, validation_fraction: float, split_seed: int):
    """(train, validation) indices of the training set: a stratified split, then the subset."""
    from neurocircuit.data.batches import stratified_split

    train_idx, val_idx = stratified_split(labels, validation_fraction, split_seed)
    train_idx = _subsample(labels, train_idx, settings["max_train_samples"], split_seed)
    return train_idx, val_idx


def _shd_splits(files: Mapping, settings: Mapping, validation_fraction: float, split_seed: int):
    """Inputs and labels of SHD's three splits (events binned into ``n_steps`` bins)."""
    from neurocircuit.data.batches import event_inputs
    from neurocircuit.data.shd import bin_dataset, read_shd

    for role in ("train", "test"):
        if role not in files:
            raise ValueError(f"shd: no '{role}' file given (expected shd_{role}.h5[.gz])")
    binning = {"n_bins": settings["n_steps"], "duration_s": settings["shd_duration_s"]}
    train_all = bin_dataset(read_shd(files["train"]), **binning)
    test = bin_dataset(read_shd(files["test"]), **binning)
    train_idx, val_idx = _train_val_indices(
        train_all.labels, settings, validation_fraction, split_seed
    )
    splits = {"train": train_all.subset(train_idx), "val": train_all.subset(val_idx), "test": test}
    inputs = {name: event_inputs(store) for name, store in splits.items()}
    labels = {name: store.labels for name, store in splits.items()}
    return inputs, labels


def _image_splits(
    spec,
    files: Mapping,
    settings: Mapping,
    *,
    validation_fraction: float,
    split_seed: int,
    digits_test_fraction: float,
    verify_checksums: bool,
):
    """Inputs (spike encoders of the images) and labels of an image data set's three splits."""
    from neurocircuit.data.batches import ImageSpikeInputs

    if spec.kind == "embedded":
        from neurocircuit.data.digits import load_digits_dataset

        images = load_digits_dataset(test_fraction=digits_test_fraction, split_seed=split_seed)
    else:
        from neurocircuit.data.idx import load_idx_dataset

        content_md5 = {f.role: f.content_md5 for f in spec.files} if verify_checksums else None
        images = load_idx_dataset(files, n_classes=spec.n_classes, content_md5=content_md5)
    train_idx, val_idx = _train_val_indices(
        images.train_labels, settings, validation_fraction, split_seed
    )
    params = _encoder_params(settings)
    split_images = {
        "train": (images.train_images[train_idx], images.train_labels[train_idx]),
        "val": (images.train_images[val_idx], images.train_labels[val_idx]),
        "test": (images.test_images, images.test_labels),
    }
    inputs = {
        name: ImageSpikeInputs(pixels, settings["encoding"], settings["n_steps"], **params)
        for name, (pixels, _) in split_images.items()
    }
    labels = {name: split_labels for name, (_, split_labels) in split_images.items()}
    return inputs, labels


def load_classification_data(
    dataset: str,
    files: Mapping[str, str | Path],
    settings: Mapping,
    *,
    seed: int,
    validation_fraction: float = 0.1,
    split_seed: int = 0,
    digits_test_fraction: float = 0.2,
    verify_checksums: bool = True,
) -> ClassificationData:
    """Load ``dataset`` from ``files`` (role -> path; empty for digits), split off the
    validation set, and wrap each split in seeded spike batches.

    The training batches are shuffled (seed stream ``4 seed``); the evaluation splits get
    their own seed streams (``4 seed + 1..3``), so their Poisson spikes stay fixed across
    epochs.
    """
    from neurocircuit.data.batches import SpikeBatches

    spec = get_dataset_spec(dataset)
    if spec.kind == "shd":
        inputs, labels = _shd_splits(files, settings, validation_fraction, split_seed)
    else:
        inputs, labels = _image_splits(
            spec, files, settings, validation_fraction=validation_fraction,
            split_seed=split_seed, digits_test_fraction=digits_test_fraction,
            verify_checksums=verify_checksums,
        )  # fmt: skip

    def batches(name: str, size: int, shuffle: bool, stream: int) -> SpikeBatches:
        return SpikeBatches(
            inputs[name], labels[name], batch_size=size, shuffle=shuffle, seed=seed * 4 + stream
        )

    batch_size, eval_batch = settings["batch_size"], settings["eval_batch_size"]
    return ClassificationData(
        train=batches("train", batch_size, True, 0),
        val=batches("val", eval_batch, False, 1),
        test=batches("test", eval_batch, False, 2),
        train_eval=batches("train", eval_batch, False, 3),
        n_inputs=spec.n_inputs,
        n_classes=spec.n_classes,
        sizes={name: int(len(lab)) for name, lab in labels.items()},
    )
