"""A known recurrent rate network (the teacher) whose activity drives a synthetic recording.

A fit of recorded activity can only be judged against something known. The teacher is a
Wilson–Cowan network of the very form the fit stage trains (neurocircuit.models.activity's
``RateActivityNetwork``), one unit per simulated neuron:

    r_t = d r_{t-1} + (1 - d) sigmoid(g (W r_{t-1}) - b + noise_t),   d = exp(-dt / tau)

with Dale's law (a fraction ``exc_fraction`` of units excitatory, every column of W one sign)
and a structure that makes it generate an autonomous sequence: the units form ``n_groups``
groups in a ring, each with excitatory (E) and inhibitory (I) members. E_k excites itself and
the next group E_{k+1}, and its own I_k; I_k inhibits every E group but its own and the next.
So group k, once active, recruits k+1, whose inhibitory members then silence k: a travelling
wave around the ring (a sequence, period about ``n_groups`` times a few ``tau``), sustained
without any input. A sparse random E–I part (``density``, excitatory and inhibitory inputs of
equal mean strength per unit) sits on top of the structure, and ``noise`` (private, per unit and
step) makes every cycle differ a little. Rates are in [0, 1]; time in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Group-to-group weights (divided by the presynaptic group's size, so they do not depend on
# the number of neurons): E_k -> E_k, E_k -> E_{k+1}, E_k -> I_k, I_k -> E_j (j != k, k + 1).
SELF_EXCITATION = 7.0
FORWARD_EXCITATION = 5.0
EXCITATION_OF_INHIBITION = 4.0
INHIBITION = 8.0
RANDOM_SCALE = 0.5  # s.d.-like scale of the sparse random E–I part
THRESHOLD = 3.0  # b: units sit near 0 without input
BURN_IN_PERIODS = 2  # cycles run before the recording starts, so it starts on the cycle
RATE_FLOOR = 0.05  # added to a teacher rate before scaling it to events: no neuron is silent


@dataclass(frozen=True)
class Teacher:
    """The teacher's constants: ``weight`` (N, N) [post, pre], ``sign`` (N,) +1 E / -1 I,
    ``group`` (N,) ring position, ``tau_s`` (N,) time constants (s), ``gain`` and ``threshold``
    (N,) of the sigmoid, ``noise`` (s.d. of the private input noise per step)."""

    weight: np.ndarray
    sign: np.ndarray
    group: np.ndarray
    tau_s: np.ndarray
    gain: np.ndarray
    threshold: np.ndarray
    noise: float

    @property
    def n_units(self) -> int:
        return int(self.sign.size)


def ring_structure(sign: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """The sequence-generating part of W (N, N) [post, pre] (see the module docstring)."""
    exc = sign > 0
    post_g, pre_g = group[:, None], group[None, :]
    post_e, pre_e = exc[:, None], exc[None, :]
    successor = (pre_g + 1) % n_groups
    weight = np.zeros((sign.size, sign.size))
    weight += SELF_EXCITATION * (pre_e & post_e & (post_g == pre_g))
    weight += FORWARD_EXCITATION * (pre_e & post_e & (post_g == successor))
    weight += EXCITATION_OF_INHIBITION * (pre_e & ~post_e & (post_g == pre_g))
    spared = (post_g == pre_g) | (post_g == successor)
    weight -= INHIBITION * (~pre_e & post_e & ~spared)
    same_class = (group[:, None] == group[None, :]) & (exc[:, None] == exc[None, :])
    return weight / same_class.sum(axis=0)[None, :]


def random_ei_part(sign: np.ndarray, density: float, rng: np.random.Generator) -> np.ndarray:
    """Sparse random connections (N, N), each column the sign of its presynaptic unit, log-normal
    magnitudes; inhibitory columns scaled so that every unit's expected E and I input balance."""
    n = sign.size
    present = rng.random((n, n)) < density
    np.fill_diagonal(present, False)
    magnitude = rng.lognormal(0.0, 0.5, (n, n)) * present
    n_exc, n_inh = int(np.sum(sign > 0)), int(np.sum(sign < 0))
    balance = np.where(sign > 0, 1.0, n_exc / max(n_inh, 1))
    return RANDOM_SCALE * magnitude * (sign * balance)[None, :] / np.sqrt(max(density * n, 1.0))


def build_teacher(
    n_units: int,
    n_groups: int,
    *,
    exc_fraction: float = 0.8,
    density: float = 0.2,
    tau_s: float = 1.0,
    noise: float = 0.5,
    rng: np.random.Generator,
) -> Teacher:
    """A teacher of ``n_units`` units in ``n_groups`` ring groups (each needs >= 1 E unit)."""
    n_exc = int(round(exc_fraction * n_units))
    if n_groups < 2 or n_exc < n_groups or n_units - n_exc < n_groups:
        raise ValueError(
            f"a teacher needs >= 2 groups and one excitatory and one inhibitory unit per group: "
            f"{n_units} units, exc_fraction {exc_fraction}, {n_groups} groups"
        )
    sign = np.where(np.arange(n_units) < n_exc, 1.0, -1.0)
    group = np.where(sign > 0, np.arange(n_units), np.arange(n_units) - n_exc) % n_groups
    weight = ring_structure(sign, group, n_groups) + random_ei_part(sign, density, rng)
    return Teacher(
        weight=weight,
        sign=sign,
        group=group.astype(np.int64),
        tau_s=np.full(n_units, float(tau_s)),
        gain=np.ones(n_units),
        threshold=np.full(n_units, THRESHOLD),
        noise=float(noise),
    )


def teacher_step(teacher: Teacher, rates: np.ndarray, decay: np.ndarray, kick: np.ndarray):
    """One step of the teacher's dynamics from ``rates`` (N,) with input noise ``kick`` (N,):
    ``models.dynamics.wilson_cowan.wilson_cowan_step`` (the equation is there) in NumPy, the
    kick added to the drive g (W r) - b (with g = 1, the step's input I_t). A NumPy twin, so
    that the synthetic recordings need no torch; tests/unit/test_rollout_parity.py checks it
    against that step (1e-12)."""
    drive = teacher.gain * (teacher.weight @ rates) - teacher.threshold + kick
    return decay * rates + (1.0 - decay) / (1.0 + np.exp(-drive))


def run_teacher(
    teacher: Teacher,
    n_steps: int,
    dt_s: float,
    rng: np.random.Generator | None,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Rates (n_steps, N): row 0 is ``start`` (default: group 0's E units at 0.9, the rest 0),
    then the dynamics with private noise drawn from ``rng`` (None: noise-free)."""
    decay = np.exp(-dt_s / teacher.tau_s)
    rates = np.zeros((int(n_steps), teacher.n_units))
    if start is None:
        start = np.where((teacher.group == 0) & (teacher.sign > 0), 0.9, 0.0)
    rates[0] = start
    for t in range(1, int(n_steps)):
        kick = 0.0 if rng is None else rng.normal(0.0, teacher.noise, teacher.n_units)
        rates[t] = teacher_step(teacher, rates[t - 1], decay, kick)
    return rates


def teacher_trajectory(
    teacher: Teacher, n_steps: int, dt_s: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(latent, noise_free) rates (n_steps, N) of a recording: the latent trajectory (with
    private noise) starts after a noisy burn-in of BURN_IN_PERIODS rough cycles; the
    noise-free one is the deterministic rollout from the latent trajectory's first frame."""
    period_steps = int(np.ceil(teacher.tau_s.max() * 3.5 * np.unique(teacher.group).size / dt_s))
    burn_in = run_teacher(teacher, BURN_IN_PERIODS * period_steps + 1, dt_s, rng)
    latent = run_teacher(teacher, n_steps, dt_s, rng, start=burn_in[-1])
    noise_free = run_teacher(teacher, n_steps, dt_s, None, start=latent[0])
    return latent, noise_free


# ---------------------------------------------------------------- in a synthetic recording
def teacher_event_rates(spec, rates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Event rates (neurons, volumes) in Hz from teacher rates (volumes, neurons): a base rate
    (log-normal around ``event_rate_hz``) times (r + RATE_FLOOR) / mean(r + RATE_FLOOR)."""
    base = spec.event_rate_hz * rng.lognormal(0.0, 0.4, size=spec.n_neurons)
    lifted = rates.T + RATE_FLOOR
    return base[:, None] * lifted / lifted.mean(axis=1, keepdims=True)


def simulate_teacher(spec, seed: int):
    """(teacher, latent rates, noise-free rates) of a recording with ``spec`` (a
    SyntheticVolumeSpec); its own random stream, so the rest of the simulation draws what it
    draws in ensemble mode."""
    rng = np.random.default_rng([int(seed), 7])
    teacher = build_teacher(
        spec.n_neurons,
        spec.n_ensembles,
        exc_fraction=spec.teacher_exc_fraction,
        density=spec.teacher_density,
        tau_s=spec.teacher_tau_s,
        noise=spec.teacher_noise,
        rng=rng,
    )
    latent, noise_free = teacher_trajectory(teacher, spec.n_volumes, 1.0 / spec.volume_rate_hz, rng)
    return teacher, latent, noise_free


def group_drive(teacher, rates: np.ndarray) -> np.ndarray:
    """(groups, volumes) mean rate of each ring group's excitatory units, over its mean."""
    groups = np.unique(teacher.group)
    exc = teacher.sign > 0
    drive = np.stack([rates[:, exc & (teacher.group == g)].mean(axis=1) for g in groups])
    return drive / np.maximum(drive.mean(axis=1, keepdims=True), 1e-12)


def write_teacher(group, recording) -> None:
    """The teacher in a ground-truth file's ``teacher`` group (arrays time-major)."""
    teacher = recording.teacher
    for key in ("weight", "sign", "group", "tau_s", "gain", "threshold"):
        group.create_dataset(key, data=getattr(teacher, key))
    group.create_dataset("rates", data=recording.teacher_rates, compression="gzip")
    group.create_dataset("noise_free", data=recording.teacher_noise_free, compression="gzip")
    group["weight"].attrs["layout"] = "post x pre"
    group["rates"].attrs["layout"] = "volumes x neurons, in [0, 1]"
    group.attrs["noise"] = teacher.noise
    group.attrs["dynamics"] = "r_t = d r_{t-1} + (1 - d) sigmoid(gain (W r_{t-1}) - threshold)"
