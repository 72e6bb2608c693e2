"""A synthetic volumetric two-photon recording with known ground truth.

The demo's raw data and the imaging stage's test oracle. Neurons are 3-D somata at known
positions (z in plane units, y and x in pixels); each fires a Poisson train of bursts, turned into
a GCaMP-like calcium transient (difference of exponentials: rise, then decay). The neurons form
a few ensembles whose event rates follow slow, deterministic, phase-shifted waveforms (shared,
predictable population dynamics, so the activity-fitting stage has something to reproduce);
the events themselves are random. With ``population="teacher"`` the event rates come instead from
a known recurrent rate network with Dale's law (neurocircuit.imaging.teacher): one teacher unit
per neuron, generating an autonomous sequence, so that a fitted network can be scored against
the circuit that made the data. The microscope sees, per plane and volume:

    photons = bleach(t) * [ sum_i a_ip * F0_i * (1 + dff_i(t)) * soma_i(y, x)      (somata)
                            + neuropil_p(y, x, t) * (1 - (1 - c) * soma_mask) ]    (neuropil)

where a_ip is the axial weight of neuron i in plane p (a Gaussian in z, so a soma between two
planes is seen in both), c the neuropil contamination inside somata, then shot noise (Poisson),
a detector gain and Gaussian read noise, and a rigid (y, x) shift per volume (the whole volume
moves together). Written the way ScanImage writes it: int16 pages, planes interleaved
(volume 0 plane 0, volume 0 plane 1, ..., volume 1 plane 0, ...), plus a ground-truth HDF5.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from neurocircuit.imaging.teacher import (
    group_drive,
    simulate_teacher,
    teacher_event_rates,
    write_teacher,
)
from neurocircuit.runtime import atomic_path

INT16_MAX = np.iinfo(np.int16).max
# Ensemble drive (see ensemble_drive): share of the amplitude in the slow component and how many
# times longer its period is than ensemble_period_s; phases of the slow component step by the
# golden ratio so no two ensembles share one.
SLOW_SHARE = 0.3
SLOW_PERIOD_FACTOR = 2.5
JOINT_CYCLE_PERIODS = 5  # both components repeat after 5 fast periods (2 slow ones)
GOLDEN_RATIO = (1.0 + np.sqrt(5.0)) / 2.0
GROUND_TRUTH_ARRAYS = ("positions", "spikes", "dff", "shifts", "time_s", "ensembles", "drive")
POPULATIONS = ("ensembles", "teacher")
TEACHER_ARRAYS = ("weight", "sign", "group", "tau_s", "gain", "threshold", "rates", "noise_free")


@dataclass(frozen=True)
class SyntheticVolumeSpec:
    """Sizes, rates and optics of the synthetic recording (units in each name).

    Population dynamics: neuron i belongs to ensemble i mod ``n_ensembles``; its event rate is
    its base rate (log-normal around ``event_rate_hz``) times its ensemble's drive (see
    ``ensemble_drive``), a slow deterministic waveform of period ``ensemble_period_s`` (s)
    whose log-rate depth is ``ensemble_modulation`` (>= 0, natural-log units: rates swing by up
    to e^(2 m) between trough and peak). ``ensemble_modulation`` 0 gives independent neurons
    with constant rates (the same spikes as before ensembles existed, for the same seed).
    """

    n_planes: int = 3
    height: int = 128
    width: int = 128
    n_volumes: int = 600
    volume_rate_hz: float = 10.0
    n_neurons: int = 72
    soma_radius_px: float = 5.0
    axial_sigma_planes: float = 0.45
    event_rate_hz: float = 0.25
    n_ensembles: int = 4
    ensemble_period_s: float = 20.0
    ensemble_modulation: float = 3.0
    spikes_per_event_mean: float = 1.5
    dff_per_spike: float = 0.6
    tau_rise_s: float = 0.1
    tau_decay_s: float = 1.0
    soma_photons: float = 12.0
    neuropil_photons: float = 10.0
    neuropil_contamination: float = 0.7
    neuropil_fluctuation: float = 0.15
    bleach_tau_s: float = 300.0
    motion_sd_px: float = 1.5
    motion_max_px: int = 4
    gain: float = 8.0
    offset: float = 100.0
    read_noise: float = 4.0
    population: str = "ensembles"
    teacher_tau_s: float = 1.0
    teacher_noise: float = 0.5
    teacher_exc_fraction: float = 0.8
    teacher_density: float = 0.2

    def __post_init__(self):
        if self.population not in POPULATIONS:
            raise ValueError(
                f"population must be one of {', '.join(POPULATIONS)}, got {self.population!r}"
            )
        if not (isinstance(self.n_ensembles, int | np.integer) and self.n_ensembles >= 1):
            raise ValueError(f"n_ensembles must be an integer >= 1, got {self.n_ensembles!r}")
        if not self.ensemble_period_s > 0:
            raise ValueError(f"ensemble_period_s must be > 0 s, got {self.ensemble_period_s}")
        if not self.ensemble_modulation >= 0:
            raise ValueError(
                f"ensemble_modulation must be >= 0 (0 = independent neurons), "
                f"got {self.ensemble_modulation}"
            )

    @classmethod
    def from_dict(cls, params: dict) -> SyntheticVolumeSpec:
        """Build from a config mapping; unknown keys are an error naming the key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown synthetic-volume parameter(s): {', '.join(unknown)}")
        return cls(**params)


@dataclass
class SyntheticRecording:
    """A simulated recording and its ground truth.

    movie: (volumes, planes, height, width) int16 detector counts.
    positions: (neurons, 3) float, (z in planes, y px, x px) in the unshifted frame.
    spikes: (neurons, volumes) int spike counts per volume.
    ensembles: (neurons,) int ensemble of each neuron (the teacher's ring group).
    drive: (ensembles, volumes) float event-rate multiplier of each ensemble (teacher: the
        mean rate of the group's excitatory units over its mean).
    teacher: the teacher network (population "teacher"), with its latent rate trajectory
        ``teacher_rates`` (volumes, neurons) and the noise-free rollout ``teacher_noise_free``
        from the same first frame; None otherwise.
    dff: (neurons, volumes) float32 clean ΔF/F (the calcium transient, no noise).
    shifts: (volumes, 2) int rigid (dy, dx) of each volume in pixels.
    """

    movie: np.ndarray
    positions: np.ndarray
    spikes: np.ndarray
    dff: np.ndarray
    shifts: np.ndarray
    spec: SyntheticVolumeSpec
    ensembles: np.ndarray
    drive: np.ndarray
    teacher: object | None = None
    teacher_rates: np.ndarray | None = None
    teacher_noise_free: np.ndarray | None = None

    @property
    def time_s(self) -> np.ndarray:
        return np.arange(self.spec.n_volumes) / self.spec.volume_rate_hz


def place_neurons(spec: SyntheticVolumeSpec, rng: np.random.Generator) -> np.ndarray:
    """Soma centres (z, y, x) at least two radii apart laterally when within one plane in z.

    About a quarter of the somata sit between two planes, so both planes see them (the case the
    cross-plane merge must handle). Centres keep a margin from the edges for motion.
    """
    margin = spec.soma_radius_px + spec.motion_max_px + 2
    min_dist = 2.2 * spec.soma_radius_px
    # Exclusion disks (radius min_dist / 2) around centres that keep the margin; random
    # sequential placement of disks jams near 55 % coverage of the area they can reach.
    usable = (max(spec.height - 2 * margin, 0) + min_dist) * (
        max(spec.width - 2 * margin, 0) + min_dist
    )
    capacity = int(0.55 * usable * spec.n_planes / (np.pi * (min_dist / 2) ** 2))
    too_many = ValueError(
        f"cannot place {spec.n_neurons} somata of radius {spec.soma_radius_px} px in "
        f"{spec.n_planes} planes of {spec.height}x{spec.width} px (about {capacity} fit): "
        "lower n_neurons"
    )
    if spec.n_neurons > capacity:
        raise too_many
    positions: list[np.ndarray] = []
    attempts = 0
    while len(positions) < spec.n_neurons:
        attempts += 1
        if attempts > 200 * spec.n_neurons:
            raise too_many
        plane = rng.integers(spec.n_planes)
        between = spec.n_planes > 1 and rng.random() < 0.25 and plane < spec.n_planes - 1
        z = plane + (0.5 if between else rng.uniform(-0.15, 0.15))
        z = float(np.clip(z, 0.0, spec.n_planes - 1))
        y = rng.uniform(margin, spec.height - margin)
        x = rng.uniform(margin, spec.width - margin)
        candidate = np.array([z, y, x])
        if positions:
            others = np.array(positions)
            close_z = np.abs(others[:, 0] - z) < 1.0
            lateral = np.hypot(others[:, 1] - y, others[:, 2] - x)
            if np.any(close_z & (lateral < min_dist)):
                continue
        positions.append(candidate)
    return np.array(positions)


def ensemble_labels(spec: SyntheticVolumeSpec) -> np.ndarray:
    """Ensemble of each neuron (neurons,) int: neuron i belongs to ensemble i mod n_ensembles.

    Deterministic (no random draws): positions are random, so ensembles are spatially mixed.
    """
    return np.arange(spec.n_neurons) % spec.n_ensembles


def ensemble_shape(spec: SyntheticVolumeSpec, time_s: np.ndarray) -> np.ndarray:
    """The ensembles' common waveform in [-1, 1], (n_ensembles, len(time_s)), time in seconds.

    (1 - h) sin(2 pi t / P + phi_k) + h sin(2 pi t / (r P) + psi_k): P = ensemble_period_s,
    phases phi_k = 2 pi k / n_ensembles spread evenly over the cycle (the ensembles take turns,
    a travelling wave), plus a slower component (h = SLOW_SHARE of the amplitude, r =
    SLOW_PERIOD_FACTOR) with its own phase psi_k so that successive cycles differ.
    """
    k = np.arange(spec.n_ensembles)[:, None]
    fast_phase = 2 * np.pi * k / spec.n_ensembles
    slow_phase = 2 * np.pi * ((k * GOLDEN_RATIO) % 1.0)
    t = np.asarray(time_s, dtype=np.float64)[None, :]
    fast = np.sin(2 * np.pi * t / spec.ensemble_period_s + fast_phase)
    slow = np.sin(2 * np.pi * t / (SLOW_PERIOD_FACTOR * spec.ensemble_period_s) + slow_phase)
    return (1.0 - SLOW_SHARE) * fast + SLOW_SHARE * slow


def ensemble_drive(spec: SyntheticVolumeSpec) -> np.ndarray:
    """Event-rate multiplier of each ensemble per volume, (n_ensembles, volumes), > 0.

    exp(m * shape_k(t)) / Z with m = ensemble_modulation (log-rate depth) and shape from
    ``ensemble_shape``; Z is the mean of exp(m * shape) over one whole joint cycle of both
    components (independent of the recording's length), so the long-run mean rate stays
    ``event_rate_hz``. The rate swings by up to e^(2 m) between trough and peak: with m = 3
    neurons are nearly silent between their ensemble's bouts, as in real population bursts.
    Deterministic (no random draws): the population dynamics are shared and predictable; only
    the events themselves are random. m = 0 gives 1 everywhere (independent, constant rates).
    """
    time_s = np.arange(spec.n_volumes) / spec.volume_rate_hz
    drive = np.exp(spec.ensemble_modulation * ensemble_shape(spec, time_s))
    cycle_s = JOINT_CYCLE_PERIODS * spec.ensemble_period_s
    cycle = np.linspace(0.0, cycle_s, 4096, endpoint=False)
    normaliser = np.exp(spec.ensemble_modulation * ensemble_shape(spec, cycle)).mean(axis=1)
    return drive / normaliser[:, None]


def event_rates(spec: SyntheticVolumeSpec, rng: np.random.Generator) -> np.ndarray:
    """Firing-event rate of each neuron per volume (neurons, volumes), in Hz.

    A per-neuron base rate, log-normal around ``event_rate_hz``, times its ensemble's drive
    (``ensemble_drive``). With ``ensemble_modulation`` 0 every rate is constant in time: the
    neurons fire independently.
    """
    base = spec.event_rate_hz * rng.lognormal(0.0, 0.4, size=spec.n_neurons)
    return base[:, None] * ensemble_drive(spec)[ensemble_labels(spec)]


def simulate_spikes(
    spec: SyntheticVolumeSpec, rng: np.random.Generator, rates_hz: np.ndarray | None = None
) -> np.ndarray:
    """Spike counts (neurons, volumes): Poisson events, each a burst of >= 1 spikes.

    Events follow ``rates_hz`` (neurons, volumes; default ``event_rates``: inhomogeneous
    Poisson, one Bernoulli draw per volume); every neuron gets at least three events so that
    none is silent (a silent soma is invisible to any functional detector).
    """
    n, t = spec.n_neurons, spec.n_volumes
    if rates_hz is None:
        rates_hz = event_rates(spec, rng)
    p_event = np.clip(rates_hz / spec.volume_rate_hz, 0, 1)
    events = rng.random((n, t)) < p_event
    for i in range(n):
        while events[i].sum() < 3:
            events[i, rng.integers(t)] = True
    extra = rng.geometric(1.0 / spec.spikes_per_event_mean, size=(n, t)) - 1
    return (events * (1 + extra)).astype(np.int32)


def calcium_kernel(spec: SyntheticVolumeSpec) -> np.ndarray:
    """GCaMP-like response to one spike, sampled per volume, peak normalised to dff_per_spike."""
    dt = 1.0 / spec.volume_rate_hz
    t = np.arange(int(np.ceil(8 * spec.tau_decay_s / dt)) + 1) * dt
    kernel = np.exp(-t / spec.tau_decay_s) - np.exp(-t / spec.tau_rise_s)
    return spec.dff_per_spike * kernel / kernel.max()


def spikes_to_dff(spikes: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Clean ΔF/F: each spike train convolved with the calcium kernel (causal, same length)."""
    t = spikes.shape[1]
    out = np.empty(spikes.shape, dtype=np.float64)
    for i, train in enumerate(spikes):
        out[i] = np.convolve(train, kernel)[:t]
    return out


def soma_footprint(dy: np.ndarray, dx: np.ndarray, radius: float) -> np.ndarray:
    """A filled soma with a soft edge (logistic over about one pixel), peak 1."""
    r = np.hypot(dy, dx)
    return 1.0 / (1.0 + np.exp((r - radius) / 0.6))


def simulate_motion(spec: SyntheticVolumeSpec, rng: np.random.Generator) -> np.ndarray:
    """Rigid (dy, dx) per volume in whole pixels: a slow AR(1) drift plus rare jolts.

    The process hovers around zero, as a head-fixed preparation does, so the registration
    reference (built from the most typical frames) sits near the true frame.
    """
    t = spec.n_volumes
    shifts = np.zeros((t, 2))
    phi = 0.9
    state = np.zeros(2)
    for k in range(t):
        state = phi * state + rng.normal(0, spec.motion_sd_px * np.sqrt(1 - phi**2), 2)
        jolt = rng.normal(0, 2 * spec.motion_sd_px, 2) if rng.random() < 0.02 else 0.0
        shifts[k] = state + jolt
    limit = spec.motion_max_px
    return np.clip(np.round(shifts), -limit, limit).astype(np.int32)


def _smooth_field(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    field = gaussian_filter(rng.normal(size=shape), sigma, mode="wrap")
    field -= field.mean()
    return field / (field.std() + 1e-12)


def _slow_noise(n: int, t: int, sigma_frames: float, rng: np.random.Generator) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    noise = gaussian_filter1d(rng.normal(size=(n, t)), sigma_frames, axis=1, mode="reflect")
    # Unit variance in expectation (Gaussian-filtered white noise has s.d. (2 sqrt(pi) s)^-1/2);
    # normalising by the sample s.d. would blow up short recordings.
    return noise * np.sqrt(2.0 * np.sqrt(np.pi) * sigma_frames)


def simulate_volume(spec: SyntheticVolumeSpec, seed: int = 0) -> SyntheticRecording:
    """Simulate a volumetric recording (see the module docstring); same seed, same movie."""
    rng = np.random.default_rng(seed)
    positions = place_neurons(spec, rng)
    teacher = latent = noise_free = None
    if spec.population == "teacher":
        teacher, latent, noise_free = simulate_teacher(spec, seed)
        spikes = simulate_spikes(spec, rng, teacher_event_rates(spec, latent, rng))
    else:
        spikes = simulate_spikes(spec, rng)
    dff = spikes_to_dff(spikes, calcium_kernel(spec))
    shifts = simulate_motion(spec, rng)

    pad = spec.motion_max_px
    big_h, big_w = spec.height + 2 * pad, spec.width + 2 * pad
    yy, xx = np.mgrid[0:big_h, 0:big_w].astype(np.float64)
    n, t, z_planes = spec.n_neurons, spec.n_volumes, spec.n_planes
    brightness = spec.soma_photons * rng.uniform(0.5, 1.5, size=n)
    time_s = np.arange(t) / spec.volume_rate_hz
    bleach = np.exp(-time_s / spec.bleach_tau_s)
    population = dff.mean(axis=0)

    movie = np.empty((t, z_planes, spec.height, spec.width), dtype=np.int16)
    for plane in range(z_planes):
        axial = np.exp(-0.5 * ((positions[:, 0] - plane) / spec.axial_sigma_planes) ** 2)
        axial[np.abs(positions[:, 0] - plane) > 1.0] = 0.0
        visible = np.flatnonzero(axial > 1e-3)
        footprints = (
            np.stack(
                [
                    soma_footprint(
                        yy - (positions[i, 1] + pad),
                        xx - (positions[i, 2] + pad),
                        spec.soma_radius_px,
                    )
                    for i in visible
                ]
            )
            if visible.size
            else np.zeros((0, big_h, big_w))
        )
        soma_mask = np.zeros((big_h, big_w))
        if visible.size:
            soma_mask = np.clip(np.tensordot(axial[visible], footprints, axes=1), 0, 1)
        # Neuropil: a smooth spatial pattern modulated by slow noise and by population activity.
        modes = np.stack([1.0 + 0.3 * _smooth_field((big_h, big_w), 12.0, rng) for _ in range(3)])
        modes = np.clip(modes, 0.2, None)
        mode_traces = 1.0 + spec.neuropil_fluctuation * _slow_noise(3, t, 20.0, rng)
        mode_traces = np.clip(mode_traces + 0.3 * population[None, :], 0.05, None)
        neuropil_scale = spec.neuropil_photons / 3.0
        neuropil_gain = 1.0 - (1.0 - spec.neuropil_contamination) * soma_mask
        soma_signal = (brightness[visible] * axial[visible])[:, None] * (1.0 + dff[visible])
        flat_fp = footprints.reshape(len(visible), -1)
        flat_modes = (modes * neuropil_gain).reshape(3, -1) * neuropil_scale
        for k in range(t):
            photons = soma_signal[:, k] @ flat_fp + mode_traces[:, k] @ flat_modes
            photons = photons.reshape(big_h, big_w) * bleach[k]
            dy, dx = shifts[k]
            crop = photons[pad + dy : pad + dy + spec.height, pad + dx : pad + dx + spec.width]
            counts = spec.gain * rng.poisson(crop) + spec.offset
            counts += rng.normal(0, spec.read_noise, size=counts.shape)
            movie[k, plane] = np.clip(np.round(counts), -INT16_MAX, INT16_MAX).astype(np.int16)
    return SyntheticRecording(
        movie=movie,
        positions=positions,
        spikes=spikes,
        dff=dff.astype(np.float32),
        shifts=shifts,
        spec=spec,
        ensembles=ensemble_labels(spec) if teacher is None else teacher.group,
        drive=ensemble_drive(spec) if teacher is None else group_drive(teacher, latent),
        teacher=teacher,
        teacher_rates=latent,
        teacher_noise_free=noise_free,
    )


def write_scanimage_tiff(movie: np.ndarray, path: str | Path, volume_rate_hz: float) -> None:
    """Write (volumes, planes, y, x) as a multi-page TIFF, planes interleaved (ScanImage order).

    Page k holds volume k // planes, plane k % planes, int16 like ScanImage's own files.
    """
    import tifffile

    t, z, h, w = movie.shape
    with atomic_path(path) as tmp:
        tifffile.imwrite(
            tmp,
            movie.reshape(t * z, h, w),
            photometric="minisblack",
            metadata={"axes": "TYX", "volume_rate_hz": volume_rate_hz, "planes": z},
        )


def write_ground_truth(recording: SyntheticRecording, path: str | Path, seed: int) -> None:
    """Ground truth HDF5: positions (z, y, x), spikes, clean dff, shifts, time_s, ensembles
    (ensemble of each neuron), drive (ensembles × volumes rate multiplier), spec as JSON."""
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            h5.create_dataset("positions", data=recording.positions)
            h5.create_dataset("spikes", data=recording.spikes, compression="gzip")
            h5.create_dataset("dff", data=recording.dff, compression="gzip")
            h5.create_dataset("shifts", data=recording.shifts)
            h5.create_dataset("time_s", data=recording.time_s)
            h5.create_dataset("ensembles", data=recording.ensembles)
            h5.create_dataset("drive", data=recording.drive)
            h5["positions"].attrs["columns"] = "z_plane,y_px,x_px"
            if recording.teacher is not None:
                write_teacher(h5.create_group("teacher"), recording)
            h5.attrs["spec"] = json.dumps(asdict(recording.spec))
            h5.attrs["seed"] = int(seed)


def read_ground_truth(path: str | Path) -> dict:
    """Read a ground-truth HDF5 written by ``write_ground_truth`` into a dict of arrays.

    Files written before ensembles existed lack ``ensembles`` and ``drive``; the dict then
    lacks them too. A teacher recording's dict has ``teacher``: a dict of TEACHER_ARRAYS and
    ``noise``.
    """
    import h5py

    with h5py.File(path, "r") as h5:
        truth = {key: h5[key][()] for key in GROUND_TRUTH_ARRAYS if key in h5}
        truth["spec"] = json.loads(h5.attrs["spec"])
        if "teacher" in h5:
            group = h5["teacher"]
            truth["teacher"] = {key: group[key][()] for key in TEACHER_ARRAYS}
            truth["teacher"]["noise"] = float(group.attrs["noise"])
    return truth


def simulate_volumetric_recording(
    movie_path: str | Path, truth_path: str | Path, params: dict, seed: int = 0, logger=None
) -> SyntheticRecording:
    """Entry point: simulate with ``params`` (SyntheticVolumeSpec fields), write TIFF and truth.

    ``logger`` (optional) gets one line with the movie's shape and the neuron count.
    """
    spec = SyntheticVolumeSpec.from_dict(params)
    recording = simulate_volume(spec, seed=seed)
    write_scanimage_tiff(recording.movie, movie_path, spec.volume_rate_hz)
    write_ground_truth(recording, truth_path, seed)
    if logger:
        logger.info(
            "simulated movie %s and %d neurons", recording.movie.shape, len(recording.positions)
        )
    return recording
