"""The synthetic volumetric recording: ground truth, optics, motion, ScanImage file order."""

import numpy as np
import pytest
from neurocircuit.imaging.readers import open_movie
from neurocircuit.imaging.synthetic import (
    SyntheticVolumeSpec,
    calcium_kernel,
    ensemble_drive,
    ensemble_labels,
    event_rates,
    read_ground_truth,
    simulate_spikes,
    simulate_volume,
    simulate_volumetric_recording,
    spikes_to_dff,
)
from scipy.ndimage import gaussian_filter1d

TINY = dict(n_planes=2, height=40, width=48, n_volumes=60, n_neurons=6, soma_radius_px=3.0)


def test_same_seed_same_movie_other_seed_differs():
    spec = SyntheticVolumeSpec(**TINY)
    a, b, c = simulate_volume(spec, 3), simulate_volume(spec, 3), simulate_volume(spec, 4)
    assert np.array_equal(a.movie, b.movie) and np.array_equal(a.dff, b.dff)
    assert not np.array_equal(a.movie, c.movie)
    assert a.movie.shape == (60, 2, 40, 48) and a.movie.dtype == np.int16


def test_calcium_kernel_rises_then_decays_to_dff_per_spike():
    spec = SyntheticVolumeSpec(volume_rate_hz=20.0, tau_rise_s=0.1, tau_decay_s=1.0)
    kernel = calcium_kernel(spec)
    peak = int(np.argmax(kernel))
    assert kernel[0] == 0.0 and kernel.max() == pytest.approx(spec.dff_per_spike)
    # Peak of exp(-t/1) - exp(-t/0.1) at t* = ln(10) / (1/0.1 - 1) = 0.256 s -> frame 5 at 20 Hz.
    assert peak == 5
    assert np.all(np.diff(kernel[peak:]) < 0)
    spikes = np.zeros((1, 50), dtype=int)
    spikes[0, 10] = 2
    dff = spikes_to_dff(spikes, kernel)
    assert dff[0, 10 + peak] == pytest.approx(2 * spec.dff_per_spike)
    assert np.all(dff[0, :10] == 0)


def test_neurons_are_separated_and_inside_the_frame():
    spec = SyntheticVolumeSpec(**{**TINY, "n_neurons": 10})
    rec = simulate_volume(spec, 0)
    z, y, x = rec.positions.T
    assert np.all((z >= 0) & (z <= spec.n_planes - 1))
    margin = spec.soma_radius_px + spec.motion_max_px
    assert np.all(
        (y > margin) & (y < spec.height - margin) & (x > margin) & (x < spec.width - margin)
    )
    for i in range(10):
        for j in range(i + 1, 10):
            if abs(z[i] - z[j]) < 1:
                assert np.hypot(y[i] - y[j], x[i] - x[j]) >= 2.2 * spec.soma_radius_px
    assert np.all(rec.spikes.sum(axis=1) >= 3)  # nobody is silent


def test_rigid_motion_moves_the_soma_by_the_recorded_shift():
    spec = SyntheticVolumeSpec(
        n_planes=1,
        height=48,
        width=48,
        n_volumes=80,
        n_neurons=1,
        soma_radius_px=4.0,
        soma_photons=2000.0,
        neuropil_photons=0.0,
        read_noise=0.0,
        offset=0.0,
        gain=1.0,
        motion_sd_px=2.0,
        motion_max_px=4,
    )
    rec = simulate_volume(spec, 1)
    assert np.abs(rec.shifts).max() <= 4 and np.abs(rec.shifts).max() > 0
    yy, xx = np.mgrid[0:48, 0:48]
    for k in range(0, 80, 7):
        frame = rec.movie[k, 0].astype(float)
        cy, cx = (frame * yy).sum() / frame.sum(), (frame * xx).sum() / frame.sum()
        expected = rec.positions[0, 1:] - rec.shifts[k]  # the crop window moves by +shift
        assert np.hypot(cy - expected[0], cx - expected[1]) < 0.5


def test_bleaching_dims_the_recording():
    spec = SyntheticVolumeSpec(**{**TINY, "n_volumes": 200, "bleach_tau_s": 10.0, "offset": 0.0})
    rec = simulate_volume(spec, 0)
    means = rec.movie.reshape(200, -1).mean(axis=1)
    ratio = means[-20:].mean() / means[:20].mean()
    expected = np.exp(-(180 / spec.volume_rate_hz) / spec.bleach_tau_s)
    assert ratio == pytest.approx(expected, rel=0.25)


def test_tiff_is_interleaved_in_scanimage_order_and_truth_round_trips(tmp_path):
    import tifffile

    rec = simulate_volumetric_recording(tmp_path / "m.tif", tmp_path / "t.h5", TINY, seed=2)
    pages = tifffile.imread(tmp_path / "m.tif")
    assert pages.shape == (60 * 2, 40, 48)
    assert np.array_equal(pages[3], rec.movie[1, 1])  # page 3 = volume 1, plane 1
    movie = open_movie(tmp_path / "m.tif", n_planes=2)
    assert np.array_equal(movie.read_plane(1), rec.movie[:, 1])
    truth = read_ground_truth(tmp_path / "t.h5")
    assert np.allclose(truth["positions"], rec.positions)
    assert np.array_equal(truth["dff"], rec.dff) and truth["spec"]["n_planes"] == 2
    assert np.array_equal(truth["ensembles"], [0, 1, 2, 3, 0, 1])  # neuron i -> i mod 4
    assert truth["drive"].shape == (4, 60) and np.array_equal(truth["drive"], rec.drive)


def test_unknown_parameter_is_named():
    with pytest.raises(ValueError, match="n_neuron"):
        SyntheticVolumeSpec.from_dict({"n_neuron": 3})


def test_overcrowded_volume_is_a_clear_error():
    with pytest.raises(ValueError, match="lower n_neurons"):
        simulate_volume(SyntheticVolumeSpec(**{**TINY, "n_neurons": 500}), 0)


# ---------------------------------------------------------------- ensembles
# The demo's population (72 neurons, 600 volumes at 10 Hz) without the movie: spikes only.
POPULATION = dict(n_neurons=72, n_volumes=600)


def smoothed_dff(spec: SyntheticVolumeSpec, seed: int) -> np.ndarray:
    """(neurons, volumes) clean ΔF/F, global min-max, Gaussian σ = 3 frames (the demo's fit)."""
    spikes = simulate_spikes(spec, np.random.default_rng(seed))
    dff = spikes_to_dff(spikes, calcium_kernel(spec))
    dff = (dff - dff.min()) / (dff.max() - dff.min())
    return gaussian_filter1d(dff, 3.0, axis=1, mode="nearest")


def within_and_across_correlation(activity: np.ndarray, labels: np.ndarray) -> tuple:
    corr = np.corrcoef(activity)
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~np.eye(len(labels), dtype=bool)
    return corr[same & off_diagonal].mean(), corr[~same].mean()


def test_modulation_zero_gives_constant_rates_whatever_the_ensembles():
    flat = [
        SyntheticVolumeSpec(**POPULATION, ensemble_modulation=0.0, n_ensembles=k) for k in (1, 4)
    ]
    for spec in flat:
        rates = event_rates(spec, np.random.default_rng(0))
        assert np.array_equal(ensemble_drive(spec), np.ones((spec.n_ensembles, 600)))
        assert np.all(rates == rates[:, :1])  # constant in time: no shared dynamics
    # Labels play no part without modulation: the same spikes with 1 or 4 ensembles.
    a, b = (simulate_spikes(spec, np.random.default_rng(5)) for spec in flat)
    assert np.array_equal(a, b)
    modulated = SyntheticVolumeSpec(**POPULATION, ensemble_modulation=1.0)
    assert not np.array_equal(a, simulate_spikes(modulated, np.random.default_rng(5)))


def test_ensemble_drive_is_a_phase_shifted_rate_multiplier_with_mean_one():
    # 5 fast periods = 2 slow ones: the joint cycle, so the mean is exactly the normaliser's.
    spec = SyntheticVolumeSpec(
        n_volumes=1000, volume_rate_hz=10.0, ensemble_period_s=20.0, ensemble_modulation=2.0
    )
    drive = ensemble_drive(spec)
    assert drive.shape == (4, 1000) and np.all(drive > 0)
    assert drive.mean(axis=1) == pytest.approx(np.ones(4), rel=1e-3)
    # log drive = m * shape with |shape| <= 1: rates stay within e^(-m) .. e^(m) of the median
    log_drive = np.log(drive)
    assert np.ptp(log_drive, axis=1).max() <= 2 * 2.0 + 1e-9
    assert np.ptp(log_drive, axis=1).min() > 2.0  # deep modulation, not a ripple
    # Ensembles peak at different times, one quarter period (5 s = 50 volumes) apart at most.
    peaks = np.sort(np.argmax(drive[:, :200], axis=1))
    assert len(set(peaks)) == 4 and np.all(np.diff(peaks) >= 25)
    assert np.array_equal(ensemble_labels(spec)[:6], [0, 1, 2, 3, 0, 1])


def test_ensembles_share_slow_dynamics_in_the_smoothed_dff():
    """Within-ensemble correlation of the smoothed ΔF/F far exceeds across-ensemble
    correlation with modulation, and not without it (same seeds, same base rates)."""
    modulated = SyntheticVolumeSpec(**POPULATION)  # the defaults the demo uses
    labels = ensemble_labels(modulated)
    within, across = within_and_across_correlation(smoothed_dff(modulated, 0), labels)
    assert within > 0.3 and within > across + 0.3, (within, across)
    independent = SyntheticVolumeSpec(**POPULATION, ensemble_modulation=0.0)
    within0, across0 = within_and_across_correlation(smoothed_dff(independent, 0), labels)
    assert abs(within0) < 0.05 and abs(within0 - across0) < 0.05, (within0, across0)


def test_every_neuron_fires_at_least_three_events_even_when_its_ensemble_is_quiet():
    spec = SyntheticVolumeSpec(
        **POPULATION, event_rate_hz=0.01, ensemble_modulation=5.0, spikes_per_event_mean=1.0
    )
    spikes = simulate_spikes(spec, np.random.default_rng(0))
    assert spikes.max() == 1 and np.all(spikes.sum(axis=1) >= 3)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"n_ensembles": 0}, "n_ensembles must be an integer >= 1"),
        ({"ensemble_period_s": 0.0}, "ensemble_period_s must be > 0"),
        ({"ensemble_modulation": -1.0}, "ensemble_modulation must be >= 0"),
    ],
)
def test_bad_ensemble_parameters_are_named(bad, message):
    with pytest.raises(ValueError, match=message):
        SyntheticVolumeSpec.from_dict(bad)
