"""Scores for fitted activity: the proportion of variance explained (pVar) and its baselines.

pVar = 1 − MSE(prediction, target) / Var(target), as in NeuroTorch (Gince et al. 2024). The
global form pools all neurons and times; the per-neuron form scores each neuron against its
own variance over time, so quiet neurons count as much as loud ones.
"""

from __future__ import annotations

import numpy as np


def pvar(prediction, target) -> float:
    """Global pVar over all elements: 1 − mean((p − t)²) / var(t). Arrays of equal shape."""
    p = np.asarray(prediction, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"pvar: prediction shape {p.shape} differs from target shape {t.shape}")
    var = t.var()
    if var == 0:
        raise ValueError("pvar: the target has zero variance; pVar is undefined")
    return float(1.0 - np.mean((p - t) ** 2) / var)


def pvar_per_neuron(prediction, target, time_axis: int = 0) -> np.ndarray:
    """pVar of each neuron over time: 1 − mean_t((p − t)²) / var_t(t); NaN for a flat neuron."""
    p = np.asarray(prediction, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"pvar: prediction shape {p.shape} differs from target shape {t.shape}")
    mse = np.mean((p - t) ** 2, axis=time_axis)
    var = t.var(axis=time_axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(var > 0, 1.0 - mse / np.where(var > 0, var, 1.0), np.nan)
