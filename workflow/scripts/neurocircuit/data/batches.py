"""Seeded splits and the batch iterators the training loop reads.

A :class:`SpikeBatches` is re-iterable and also callable with an epoch number: ``batches(epoch)``
yields that epoch's batches in an order (and, for the Poisson code, with spikes) that depend
only on ``(seed, epoch)``, so a resumed run sees exactly the batches an uninterrupted one does.
Batches are ``(x, y)`` with ``x`` float32 (T, B, C) spikes and ``y`` int64 (B,) labels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from neurocircuit.data.encoders import (
    ENCODINGS,
    latency_spike_steps,
    lif_current_encode,
    poisson_encode,
)


def stratified_split(
    labels: np.ndarray, held_out_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices into (kept, held out), the same fraction from every class.

    Deterministic in ``seed``; both index arrays are sorted. Each class keeps at least one
    sample and, when it has two or more, gives at least one.
    """
    if not 0.0 < held_out_fraction < 1.0:
        raise ValueError(f"held-out fraction must lie in (0, 1), got {held_out_fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n_held = int(round(held_out_fraction * len(members)))
        n_held = min(max(n_held, 1 if len(members) > 1 else 0), len(members) - 1)
        held.append(rng.choice(members, size=n_held, replace=False))
    held_idx = np.sort(np.concatenate(held)) if held else np.zeros(0, np.int64)
    kept_idx = np.setdiff1d(np.arange(len(labels)), held_idx)
    return kept_idx.astype(np.int64), held_idx.astype(np.int64)


class ImageSpikeInputs:
    """Spike-encodes uint8 images on demand: ``inputs(samples, generator) -> (T, B, C)``.

    The latency and constant-current codes depend only on a pixel's value, so each is a lookup
    table over the 256 grey levels (exact, and cheap per batch); the Poisson code draws fresh
    spikes from ``generator``. ``params`` go to the encoder (see ``neurocircuit.data.encoders``).
    """

    def __init__(self, images: np.ndarray, encoding: str, n_steps: int, **params):
        if encoding not in ENCODINGS:
            raise ValueError(f"unknown spike encoding '{encoding}' (known: {', '.join(ENCODINGS)})")
        images = np.asarray(images)
        if images.dtype != np.uint8:
            raise ValueError(f"ImageSpikeInputs: images must be uint8, got {images.dtype}")
        self.images = torch.from_numpy(images.reshape(len(images), -1).copy())
        self.encoding = encoding
        self.n_steps = int(n_steps)
        self.params = params
        grey = torch.arange(256, dtype=torch.float32) / 255.0
        self.steps_table = None  # latency: spike step per grey level (n_steps = none)
        self.train_table = None  # lif_current: (T, 256) spike train per grey level
        if encoding == "latency":
            self.steps_table = latency_spike_steps(grey, self.n_steps, **params)
        elif encoding == "lif_current":
            self.train_table = lif_current_encode(grey, self.n_steps, **params)

    @property
    def n_inputs(self) -> int:
        return int(self.images.shape[1])

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __call__(self, samples: np.ndarray, generator: torch.Generator | None = None):
        pixels = self.images[torch.as_tensor(np.asarray(samples), dtype=torch.int64)].long()
        if self.steps_table is not None:
            steps = self.steps_table[pixels]
            spikes = torch.zeros((self.n_steps, *pixels.shape), dtype=torch.float32)
            batch, channel = torch.nonzero(steps < self.n_steps, as_tuple=True)
            spikes[steps[batch, channel], batch, channel] = 1.0
            return spikes
        if self.train_table is not None:
            return self.train_table.index_select(1, pixels.flatten()).view(-1, *pixels.shape)
        intensity = pixels.to(torch.float32) / 255.0
        return poisson_encode(intensity, self.n_steps, generator=generator, **self.params)


class SpikeBatches:
    """Batches ``(x (T, B, C) float32, y (B,) int64)`` over the samples of one split.

    ``inputs(samples, generator)`` builds the spikes of a batch (an :class:`ImageSpikeInputs`,
    or ``BinnedEvents.dense_batch`` wrapped); ``labels`` are the split's labels. With
    ``shuffle`` the order is a permutation drawn from ``(seed, epoch)``; the generator passed to
    ``inputs`` is seeded from ``(seed, epoch, batch index)``.
    """

    def __init__(
        self,
        inputs: Callable[[np.ndarray, torch.Generator | None], torch.Tensor],
        labels: np.ndarray,
        *,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        drop_last: bool = False,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.inputs = inputs
        self.labels = np.asarray(labels, dtype=np.int64)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_last = drop_last

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __call__(self, epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        if self.shuffle:
            order = np.random.default_rng([self.seed, int(epoch)]).permutation(n)
        else:
            order = np.arange(n)
        for index in range(len(self)):
            samples = order[index * self.batch_size : (index + 1) * self.batch_size]
            generator = torch.Generator().manual_seed(
                int(np.random.SeedSequence([self.seed, int(epoch), index]).generate_state(1)[0])
            )
            x = self.inputs(samples, generator)
            y = torch.from_numpy(self.labels[samples])
            yield x, y

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self(0)


def event_inputs(binned) -> Callable[[np.ndarray, torch.Generator | None], torch.Tensor]:
    """Wrap a ``BinnedEvents`` store as a ``SpikeBatches`` input builder (dense (T, B, C))."""

    def build(samples: np.ndarray, generator: torch.Generator | None = None) -> torch.Tensor:
        return binned.dense_batch(samples)

    return build
