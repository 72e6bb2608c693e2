"""Scores of a fit against the known circuit of a synthetic recording (its teacher network).

On a synthetic session made with ``population: teacher`` (neurocircuit.imaging.teacher), the
recorded units are matched to simulated neurons by the imaging stage (``truth_index`` in
activity.h5), and every fit is read against what the circuit itself explains:

- ``pvar_ceiling``: the teacher's expected observation given its own latent rate trajectory,
  scored as a prediction of the recorded (normalised, smoothed) ΔF/F. The expected observation
  of a neuron is its expected event rate (the teacher rate plus the floor) convolved with the
  recording's calcium kernel, smoothed like the data, and mapped to the unit's recorded scale
  by least squares (offset and gain per unit: the data's unknown F0, neuropil and min-max
  scaling). Units that match no simulated neuron are predicted by their time-mean. Held out,
  the map comes from the training frames and is applied to the held-out ones (each part
  smoothed alone, as the data are).
- ``gain_fraction`` = (pvar - baseline) / (ceiling - baseline), baseline the time-mean
  predictor: how much of what the circuit explains the fit learnt (> 1 in sample: it also fits
  noise). ``gain_fraction_heldout`` likewise on the held-out block. Null, with the reason in
  ``gain_fraction_undefined_reason`` (``gain_fraction_heldout_undefined_reason``), when the
  ceiling is less than ``GAIN_FRACTION_MARGIN`` (0.05 pVar) above the baseline.
- ``weight_corr``: Pearson r (with its n and two-sided p) between the fitted effective
  connectivity and the teacher's W over matched pairs, off the diagonal.
- ``teacher_forecasts``: the teacher's windowed forecasts of the held-out block
  (neurocircuit.fit.forecast), from its latent rates and the spikes already fired: the ceiling.
- ``sign_accuracy``: the share of matched units whose summed outgoing fitted weight (onto every
  recorded unit) has the sign of their true identity (models that learn signs: ``dalesign`` and
  ``nodale``; fixed Dale identities are drawn at random, so they are not scored).
"""

from __future__ import annotations

import numpy as np

from neurocircuit.fit.recording import smooth_in_time
from neurocircuit.metrics import pvar


def has_teacher(truth: dict | None) -> bool:
    return bool(truth) and "teacher" in truth


def expected_observation(
    truth: dict, truth_index: np.ndarray, n_frames: int, rates: np.ndarray | None = None
) -> np.ndarray:
    """(T, N) expected clean ΔF/F (up to each neuron's scale) of every recorded unit's simulated
    neuron given teacher ``rates`` (T, N_true; default: the latent trajectory in ``truth``);
    NaN columns for unmatched units."""
    from neurocircuit.imaging.synthetic import SyntheticVolumeSpec, calcium_kernel
    from neurocircuit.imaging.teacher import RATE_FLOOR

    spec = SyntheticVolumeSpec.from_dict(truth["spec"])
    rates = truth["teacher"]["rates"] if rates is None else rates
    return _unit_calcium(rates[:n_frames] + RATE_FLOOR, truth_index, calcium_kernel(spec))


def fit_affine(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column least squares target ≈ gain * source + offset; (gain, offset), each (N,).
    A NaN or flat source column gets gain 0 and the target's mean."""
    gain = np.zeros(target.shape[1])
    offset = target.mean(axis=0)
    for j in range(target.shape[1]):
        x = source[:, j]
        if not np.isfinite(x).all() or np.ptp(x) == 0:
            continue
        design = np.stack([x, np.ones_like(x)], axis=1)
        (gain[j], offset[j]), *_ = np.linalg.lstsq(design, target[:, j], rcond=None)
    return gain, offset


def apply_affine(source: np.ndarray, gain: np.ndarray, offset: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(source), source, 0.0) * gain + offset


def ceiling_pvar(truth: dict, truth_index: np.ndarray, target: np.ndarray, sigma: float):
    """``pvar_ceiling``: the circuit's prediction of ``target`` (T, N), the expected observation
    smoothed like the data (σ frames) and mapped per unit by least squares on these frames,
    scored on frames 1..T-1."""
    expected = smooth_in_time(expected_observation(truth, truth_index, len(target)), sigma)
    gain, offset = fit_affine(expected, target)
    return pvar(apply_affine(expected, gain, offset)[1:], target[1:])


def heldout_ceiling_pvar(
    truth: dict, truth_index: np.ndarray, train_part: np.ndarray, test_part: np.ndarray,
    sigma: float,
) -> float:  # fmt: skip
    """``pvar_ceiling_heldout``: the per-unit maps fitted on the training frames, applied to the
    held-out frames that follow them; each part smoothed alone, as the data are."""
    n_train = len(train_part)
    expected = expected_observation(truth, truth_index, n_train + len(test_part))
    train_x = smooth_in_time(expected[:n_train], sigma)
    test_x = smooth_in_time(expected[n_train:], sigma)
    gain, offset = fit_affine(train_x, train_part)
    return pvar(apply_affine(test_x, gain, offset), test_part)


GAIN_FRACTION_MARGIN = 0.05
"""The least ceiling - baseline (in pVar) a gain fraction is computed over: below it the
fraction divides by noise (a ceiling of 0.098 over a baseline of 0.081 gave 18 and -30)."""


def gain_fraction_undefined_reason(baseline: float, ceiling: float) -> str | None:
    """Why a gain fraction over ``baseline`` and ``ceiling`` is undefined, or None."""
    if not (np.isfinite(baseline) and np.isfinite(ceiling)):
        return f"ceiling {ceiling} or time-mean baseline {baseline} is not a number"
    if ceiling - baseline < GAIN_FRACTION_MARGIN:
        return (
            f"ceiling {ceiling:.4f} is less than {GAIN_FRACTION_MARGIN} (pVar) above the "
            f"time-mean baseline {baseline:.4f}: the circuit explains too little beyond it"
        )
    return None


def gain_fraction(score: float, baseline: float, ceiling: float) -> float | None:
    """(score - baseline) / (ceiling - baseline); None when the ceiling is not at least
    ``GAIN_FRACTION_MARGIN`` above the baseline (:func:`gain_fraction_undefined_reason`)."""
    if gain_fraction_undefined_reason(baseline, ceiling) is not None:
        return None
    return float((score - baseline) / (ceiling - baseline))


def read_teacher_truth(truth_path, truth_index) -> dict | None:
    """The ground truth of a synthetic session with a teacher whose rows the imaging stage
    matched (``truth_index`` of the recording not None), else None."""
    from neurocircuit.imaging.synthetic import read_ground_truth

    if truth_path is None or truth_index is None:
        return None
    truth = read_ground_truth(truth_path)
    return truth if has_teacher(truth) else None


def in_sample_truth_scores(
    truth: dict, truth_index, target, sigma: float, scores: dict, connectivity, spec
) -> dict:
    """The in-sample fit's scores against the circuit: ``pvar_ceiling``, ``gain_fraction``
    (of ``scores``' pvar over its baseline_pvar_mean) and :func:`connectivity_scores` of the
    fitted ``connectivity``, signs scored when the model's ``spec`` learns them."""
    out = {"pvar_ceiling": ceiling_pvar(truth, truth_index, target, sigma)}
    baseline, ceiling = scores["baseline_pvar_mean"], out["pvar_ceiling"]
    out["gain_fraction"] = gain_fraction(scores["pvar"], baseline, ceiling)
    out["gain_fraction_undefined_reason"] = gain_fraction_undefined_reason(baseline, ceiling)
    out.update(connectivity_scores(truth, truth_index, connectivity, spec.learns_sign))
    return out


def heldout_truth_scores(
    truth: dict, truth_index, train_part, test_part, sigma: float, scores: dict
) -> dict:
    """The held-out fit's ``pvar_ceiling_heldout`` and ``gain_fraction_heldout`` (of
    ``scores``' pvar_heldout over its baseline_pvar_mean_heldout)."""
    ceiling = heldout_ceiling_pvar(truth, truth_index, train_part, test_part, sigma)
    baseline = scores["baseline_pvar_mean_heldout"]
    return {
        "pvar_ceiling_heldout": ceiling,
        "gain_fraction_heldout": gain_fraction(scores["pvar_heldout"], baseline, ceiling),
        "gain_fraction_heldout_undefined_reason": gain_fraction_undefined_reason(baseline, ceiling),
    }


def matched_pairs(truth_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(units, neurons): recorded units that match a simulated neuron, and those neurons."""
    units = np.flatnonzero(truth_index >= 0)
    return units, truth_index[units]


def connectivity_scores(
    truth: dict, truth_index: np.ndarray, connectivity: np.ndarray, learns_sign: bool
) -> dict:
    """``weight_corr`` (+ ``weight_corr_n`` pairs, ``weight_corr_p``) of the fitted effective
    ``connectivity`` (N, N) [post, pre] against the teacher's W over matched pairs off the
    diagonal, and ``sign_accuracy`` (None unless the model ``learns_sign``)."""
    from scipy import stats

    units, neurons = matched_pairs(truth_index)
    teacher = truth["teacher"]["weight"][np.ix_(neurons, neurons)]
    fitted = np.asarray(connectivity, dtype=np.float64)[np.ix_(units, units)]
    off = ~np.eye(units.size, dtype=bool)
    scores = {"weight_corr": None, "weight_corr_n": int(off.sum()), "weight_corr_p": None}
    if off.sum() >= 3 and np.ptp(fitted[off]) > 0:
        r, p = stats.pearsonr(fitted[off], teacher[off])
        scores.update(weight_corr=float(r), weight_corr_p=float(p))
    scores["sign_accuracy"] = None
    if learns_sign and units.size:
        outgoing = np.sign(np.asarray(connectivity, dtype=np.float64)[:, units].sum(axis=0))
        truth_sign = truth["teacher"]["sign"][neurons]
        scores["sign_accuracy"] = float(np.mean(outgoing == truth_sign))
    scores["n_matched_units"] = int(units.size)
    return scores


# ---------------------------------------------------------------- the teacher, run again
def noise_free_teacher(truth: dict):
    """The teacher network of ``truth`` (neurocircuit.imaging.teacher.Teacher), without noise."""
    from neurocircuit.imaging.teacher import Teacher

    arrays = truth["teacher"]
    return Teacher(
        weight=np.asarray(arrays["weight"]),
        sign=np.asarray(arrays["sign"]),
        group=np.asarray(arrays["group"]),
        tau_s=np.asarray(arrays["tau_s"]),
        gain=np.asarray(arrays["gain"]),
        threshold=np.asarray(arrays["threshold"]),
        noise=0.0,
    )


def _unit_calcium(events: np.ndarray, truth_index: np.ndarray, kernel: np.ndarray):
    """(T, N) clean ΔF/F (calcium ``kernel``) of every recorded unit's simulated neuron from
    ``events`` (T, N_true) spikes (realised or expected); NaN columns for unmatched units."""
    out = np.full((len(events), truth_index.size), np.nan)
    for unit, neuron in enumerate(truth_index):
        if neuron >= 0:
            out[:, unit] = np.convolve(events[:, neuron], kernel)[: len(events)]
    return out


def teacher_forecasts(
    truth: dict,
    truth_index: np.ndarray,
    train_part: np.ndarray,
    n_frames: int,
    windows,
    sigma: float,
) -> np.ndarray:
    """(H, B, N): the teacher's forecast of each window (neurocircuit.fit.forecast), the
    ceiling of the windowed forecasts. It knows the simulation's whole state at the frame
    before each start, which no recording reveals: the latent rates and the spikes already
    fired (their calcium decays into the window). Its noise-free dynamics forecast the rates;
    the spikes to come are their expectation, each neuron's spike count per unit of lifted rate
    (rate + floor) measured on the training frames. The calcium of those spikes (realised before
    the start, expected after) is smoothed like the held-out block (alone, σ frames) and mapped
    per unit by least squares fitted on the training frames ``train_part`` (n_train, N), as the
    ceiling maps are. ``n_frames``: frames of the recording."""
    from neurocircuit.imaging.synthetic import SyntheticVolumeSpec, calcium_kernel
    from neurocircuit.imaging.teacher import RATE_FLOOR, run_teacher

    n_train = len(train_part)
    kernel = calcium_kernel(SyntheticVolumeSpec.from_dict(truth["spec"]))
    latent = np.asarray(truth["teacher"]["rates"], dtype=np.float64)[:n_frames]
    spikes = np.asarray(truth["spikes"], dtype=np.float64).T[:n_frames]
    lifted = latent[:n_train] + RATE_FLOOR
    spikes_per_rate = spikes[:n_train].sum(axis=0) / lifted.sum(axis=0)
    realised = _unit_calcium(spikes, truth_index, kernel)
    gain, offset = fit_affine(smooth_in_time(realised[:n_train], sigma), train_part)
    teacher = noise_free_teacher(truth)
    dt_s = 1.0 / truth["spec"]["volume_rate_hz"]
    forecasts = []
    for start in windows.starts:
        rates = run_teacher(teacher, n_frames - start + 1, dt_s, None, start=latent[start - 1])
        events = spikes.copy()
        events[start:] = spikes_per_rate * (rates[1:] + RATE_FLOOR)
        observed = _unit_calcium(events, truth_index, kernel)[n_train:]
        mapped = apply_affine(smooth_in_time(observed, sigma), gain, offset)
        forecasts.append(mapped[start - n_train : start - n_train + windows.horizon])
    return np.stack(forecasts, axis=1)


# ---------------------------------------------------------------- the teacher, ablated
def teacher_rollout_score(truth: dict, truth_index: np.ndarray, target: np.ndarray, sigma: float):
    """``score(mask) -> pVar``: the teacher with connection ``mask`` (N_true, N_true) applied,
    rolled out without noise from its first latent state, observed like the intact noise-free
    teacher (expected ΔF/F, smoothed, mapped per unit by the maps fitted on the intact
    rollout) and scored against ``target`` (T, N) on frames 1..T-1."""
    from neurocircuit.imaging.teacher import run_teacher

    arrays = truth["teacher"]
    teacher = noise_free_teacher(truth)
    dt_s = 1.0 / truth["spec"]["volume_rate_hz"]
    n_frames = target.shape[0]

    def observe(weight: np.ndarray) -> np.ndarray:
        from dataclasses import replace

        rates = run_teacher(replace(teacher, weight=weight), n_frames, dt_s, None,
                            start=arrays["rates"][0])  # fmt: skip
        return smooth_in_time(expected_observation(truth, truth_index, n_frames, rates), sigma)

    gain, offset = fit_affine(observe(teacher.weight), target)

    def score(mask: np.ndarray) -> float:
        prediction = apply_affine(observe(teacher.weight * mask), gain, offset)
        return pvar(prediction[1:], target[1:])

    return teacher.weight, score


def read_teacher_recording(
    truth_path, activity_path, recording_settings: dict, preprocessing_settings: dict
):
    """(truth, recording, preprocessing, target (T, N)) of a synthetic session whose teacher is
    ablated: its ground truth (one clear error without a teacher), the recording read with
    ``recording_settings`` (its rows matched to the truth) and preprocessed with
    ``preprocessing_settings``, as the fits see it."""
    from neurocircuit.fit.recording import Preprocessing, load_activity, preprocess
    from neurocircuit.imaging.synthetic import read_ground_truth

    truth = read_ground_truth(truth_path)
    if not has_teacher(truth):
        raise ValueError(f"{truth_path}: the synthetic recording has no teacher to ablate")
    loaded = load_activity(activity_path, **recording_settings)
    if loaded.truth_index is None:
        raise ValueError(f"{activity_path}: no truth_index (rows not matched to the truth)")
    preset = Preprocessing(**preprocessing_settings)
    return truth, loaded, preset, preprocess(loaded.traces, preset)


def ablate_teacher(
    truth_path, activity_path, output_csv, recording_settings: dict,
    preprocessing_settings: dict, ablation_settings: dict, logger=None,
):  # fmt: skip
    """Ablation curves of the teacher (model ``teacher``) on the recording a fit sees, written
    to ``output_csv``: the same strategies, fractions and table as the fitted networks'
    (neurocircuit.ablation), so its curve can be drawn and summarised beside theirs.
    ``recording_settings``: frame period and crop of the data set; ``preprocessing_settings``:
    its preset; ``ablation_settings``: fractions, strategies, random_repeats, seed."""
    from neurocircuit.ablation import write_ablation_curves

    truth, loaded, preset, target = read_teacher_recording(
        truth_path, activity_path, recording_settings, preprocessing_settings
    )
    weight, score = teacher_rollout_score(
        truth, loaded.truth_index, target, preset.smoothing_sigma_frames
    )
    if logger:
        logger.info("teacher of %s: %d units, ablating", truth_path, weight.shape[0])
    return write_ablation_curves(weight, score, target, ablation_settings, output_csv)
