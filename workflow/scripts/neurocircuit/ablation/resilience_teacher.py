"""The resilience protocol (:mod:`.resilience`) on the teacher of a synthetic session: the true
circuit's curves, drawn beside the fitted networks'.

The teacher (``imaging.teacher``) is a Wilson–Cowan network of the default form,
r_t = d r_{t-1} + (1 - d) sigmoid(g (W r_{t-1}) - b), over the simulated neurons (N_true, with
Dale's law). Ablated, it is run without noise from its first latent state and observed like the
intact noise-free teacher (``fit.truth.teacher_rollout_score``: expected ΔF/F of every recorded
unit's neuron, smoothed like the data, mapped per unit by the least-squares maps fitted on the
intact rollout), then scored on frames 1..T-1 as the fits are. The orders rank the teacher's W
(|W|: fixed identities, nothing raw to rank). The mean-drive control shifts its thresholds by
what the removed connections carried on average over the intact latent rollout,
b − g (W − W_ablated) r̄, r̄ the mean of latent frames 0..T-2. The teacher is a NumPy loop, one
rollout per (level, repeat, control).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from neurocircuit.ablation.orders import _mask_from_order, removal_order
from neurocircuit.ablation.resilience import (
    CONTROLS,
    PAPER_LEVELS,
    PAPER_REPEATS,
    RESILIENCE_STRATEGIES,
    label_curves,
    rollout_scores,
)


def _teacher_observer(truth: dict, truth_index: np.ndarray, n_frames: int, sigma: float):
    """The noise-free teacher and ``observe(weight, threshold) -> (latent rates, observed)``:
    its rollout from the first latent state and the smoothed expected ΔF/F (T, N)."""
    from neurocircuit.fit.recording import smooth_in_time
    from neurocircuit.fit.truth import expected_observation, noise_free_teacher
    from neurocircuit.imaging.teacher import run_teacher

    teacher = noise_free_teacher(truth)
    dt_s = 1.0 / truth["spec"]["volume_rate_hz"]
    start = np.asarray(truth["teacher"]["rates"][0], dtype=np.float64)

    def observe(weight: np.ndarray, threshold: np.ndarray):
        ablated = replace(teacher, weight=weight, threshold=threshold)
        rates = run_teacher(ablated, n_frames, dt_s, None, start=start)
        expected = expected_observation(truth, truth_index, n_frames, rates)
        return rates, smooth_in_time(expected, sigma)

    return teacher, observe


def teacher_resilience_curve(
    truth: dict,
    truth_index,
    target,
    sigma: float,
    strategy: str,
    levels: Sequence[float] = PAPER_LEVELS,
    repeats: int = PAPER_REPEATS,
    seed: int = 0,
    score: Callable[[np.ndarray, np.ndarray], dict] = rollout_scores,
    *,
    controls: Sequence[str] = CONTROLS,
    labels: dict | None = None,
) -> pd.DataFrame:
    """The teacher's resilience curves, in :func:`.resilience.resilience_curve`'s table
    (``CURVE_COLUMNS``; model "teacher", seed 0 unless ``labels`` say otherwise).

    ``truth``: the ground truth with its ``teacher`` (``fit.truth.read_teacher_truth``);
    ``truth_index`` (N,): each recorded unit's simulated neuron (-1: none); ``target`` (T, N):
    the preprocessed recording the fits see; ``sigma``: its smoothing (frames). Levels,
    repeats, seed, strategy and controls as for the fitted networks.
    """
    target = np.asarray(target, dtype=np.float64)
    if strategy not in RESILIENCE_STRATEGIES:
        raise ValueError(
            f"resilience: unknown strategy '{strategy}'; choose from "
            f"{', '.join(RESILIENCE_STRATEGIES)}"
        )
    unknown = [c for c in controls if c not in CONTROLS]
    if unknown:
        raise ValueError(f"resilience: unknown control '{unknown[0]}'; choose from {CONTROLS}")
    from neurocircuit.fit.truth import apply_affine, fit_affine

    index = np.asarray(truth_index)
    teacher, observe = _teacher_observer(truth, index, target.shape[0], sigma)
    weight = np.asarray(teacher.weight, dtype=np.float64)
    rates, observed = observe(weight, teacher.threshold)
    gain, offset = fit_affine(observed, target)
    intact_pvar = score(apply_affine(observed, gain, offset)[1:], target[1:])["pvar"]
    mean_rate = rates[:-1].mean(axis=0)
    n_orders = int(repeats) if strategy == "random" else 1
    rows = []
    for repeat in range(n_orders):
        order = removal_order(weight, strategy, int(seed) + repeat)
        for level in np.asarray(levels, dtype=np.float64):
            mask = _mask_from_order(weight.shape, order, float(level))
            for control in controls:
                threshold = teacher.threshold
                if control == "mean_drive":
                    threshold = threshold - teacher.gain * ((weight * (1.0 - mask)) @ mean_rate)
                _, ablated = observe(weight * mask, threshold)
                scores = score(apply_affine(ablated, gain, offset)[1:], target[1:])
                rows.append({"strategy": strategy, "control": control, "level": float(level),
                             "repeat": repeat, **scores})  # fmt: skip
    curves = pd.DataFrame(rows)
    curves["pvar_ratio"] = curves["pvar"] / intact_pvar if intact_pvar > 0 else np.nan
    return label_curves(curves, {"model": "teacher", "seed": 0, **(labels or {})})
