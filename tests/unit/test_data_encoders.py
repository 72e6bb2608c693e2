"""Spike encoders (golden values), seeded splits and batch iterators."""

import math

import numpy as np
import pytest
import torch
from neurocircuit.data.batches import ImageSpikeInputs, SpikeBatches, stratified_split
from neurocircuit.data.encoders import (
    encode_images,
    latency_encode,
    latency_spike_steps,
    lif_current_encode,
    poisson_encode,
)


def test_latency_golden_values_spytorch():
    # t = floor(20 * ln(x / (x - 0.2))): x = 1 -> 4.46, 0.5 -> 10.2, 0.25 -> 32.2; x < 0.2 silent
    x = torch.tensor([1.0, 0.5, 0.25, 0.21, 0.2, 0.1, 0.0])
    assert latency_spike_steps(x, 100).tolist() == [4, 10, 32, 60, 100, 100, 100]
    assert latency_spike_steps(x, 40).tolist() == [4, 10, 32, 40, 40, 40, 40]


def test_latency_matches_the_spytorch_formula_on_random_values():
    x = torch.rand(1000, generator=torch.Generator().manual_seed(0))
    tau, threshold = 20.0, 0.2
    expected = np.where(
        x.numpy() < threshold,
        100,
        np.minimum(
            np.floor(tau * np.log(x.numpy() / np.clip(x.numpy() - threshold, 1e-7, None))), 100
        ),
    )
    assert latency_spike_steps(x, 100).numpy().tolist() == expected.astype(int).tolist()


def test_latency_spikes_once_at_its_step():
    x = torch.tensor([[1.0, 0.5, 0.0]])
    spikes = latency_encode(x, 20)
    assert spikes.shape == (20, 1, 3) and spikes.dtype == torch.float32
    assert spikes.sum(0).tolist() == [[1.0, 1.0, 0.0]]
    assert spikes[4, 0, 0] == 1 and spikes[10, 0, 1] == 1


def test_lif_current_golden_values():
    # alpha = exp(-0.1) = 0.9048; v = (alpha v + x)(1 - z_prev), spike when v >= 1.
    # x = 1: spikes at 0, 2, 4, 6 (reset takes one step); x = 0.5: v = .5, .952, 1.361 -> spike
    # at 2, then again 4 steps later; x = 0.09 < 1 - alpha never reaches threshold.
    spikes = lif_current_encode(torch.tensor([1.0, 0.5, 0.09]), 8)
    assert spikes[:, 0].tolist() == [1, 0, 1, 0, 1, 0, 1, 0]
    assert spikes[:, 1].tolist() == [0, 0, 1, 0, 0, 0, 1, 0]
    assert spikes[:, 2].sum() == 0
    assert math.isclose(1 - math.exp(-0.1), 0.0952, abs_tol=1e-4)


def test_lif_current_rate_grows_with_intensity():
    x = torch.linspace(0, 1, 21)
    counts = lif_current_encode(x, 200).sum(0)
    assert torch.all(counts[1:] >= counts[:-1])
    assert counts[0] == 0 and counts[-1] == 100


def test_poisson_is_seeded_and_has_the_right_rate():
    x = torch.full((1000,), 0.5)
    a = poisson_encode(x, 200, max_rate_hz=100, generator=torch.Generator().manual_seed(3))
    b = poisson_encode(x, 200, max_rate_hz=100, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    rate_hz = a.mean().item() / 1e-3
    assert abs(rate_hz - 50.0) < 1.0  # 200,000 Bernoulli(0.05) draws: sd of the rate 0.5 Hz
    assert poisson_encode(torch.zeros(10), 50).sum() == 0


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan")])
def test_intensities_outside_unit_interval_are_rejected(bad):
    with pytest.raises(ValueError, match="spike encoder"):
        latency_encode(torch.tensor([0.5, bad]), 10)


def test_unknown_encoding_is_rejected():
    with pytest.raises(ValueError, match="unknown spike encoding 'rank'"):
        encode_images(torch.zeros(3), "rank", 10)


@pytest.mark.parametrize(
    ("encoding", "params"),
    [("latency", {}), ("lif_current", {"gain": 2.0}), ("poisson", {"max_rate_hz": 300.0})],
)
def test_image_inputs_equal_the_encoder(encoding, params):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 4, 4), dtype=np.uint8)
    inputs = ImageSpikeInputs(images, encoding, 30, **params)
    samples = np.array([3, 0])
    got = inputs(samples, torch.Generator().manual_seed(1))
    intensity = torch.from_numpy(images[samples].reshape(2, 16)).float() / 255.0
    expected = encode_images(
        intensity, encoding, 30, generator=torch.Generator().manual_seed(1), **params
    )
    assert got.shape == (30, 2, 16)
    assert torch.equal(got, expected)


def test_stratified_split_is_seeded_disjoint_and_balanced():
    labels = np.repeat(np.arange(4), 50)
    kept, held = stratified_split(labels, 0.1, seed=7)
    again_kept, again_held = stratified_split(labels, 0.1, seed=7)
    assert np.array_equal(held, again_held) and np.array_equal(kept, again_kept)
    assert not set(kept) & set(held)  # disjoint by index,
    assert np.array_equal(np.sort(np.concatenate([kept, held])), np.arange(200))  # union all
    assert np.bincount(labels[held]).tolist() == [5, 5, 5, 5]
    other = stratified_split(labels, 0.1, seed=8)[1]
    assert not np.array_equal(held, other)
    with pytest.raises(ValueError, match="held-out fraction"):
        stratified_split(labels, 1.0, seed=0)


def test_batches_are_seeded_per_epoch_and_cover_every_sample():
    images = np.arange(10, dtype=np.uint8).reshape(10, 1) * 20
    labels = np.arange(10)
    batches = SpikeBatches(
        ImageSpikeInputs(images, "poisson", 5), labels, batch_size=4, shuffle=True, seed=3
    )
    assert len(batches) == 3
    epoch0 = [(x.clone(), y.clone()) for x, y in batches(0)]
    again = list(batches(0))
    epoch1 = list(batches(1))
    assert all(
        torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        for a, b in zip(epoch0, again, strict=True)
    )
    assert sorted(torch.cat([y for _, y in epoch0]).tolist()) == list(range(10))
    assert [y.tolist() for _, y in epoch0] != [y.tolist() for _, y in epoch1]
    assert epoch0[0][0].shape == (5, 4, 1) and epoch0[-1][0].shape == (5, 2, 1)
    ordered = SpikeBatches(
        ImageSpikeInputs(images, "latency", 5), labels, batch_size=4, shuffle=False
    )
    assert torch.cat([y for _, y in ordered]).tolist() == list(range(10))
