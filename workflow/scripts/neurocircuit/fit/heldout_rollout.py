"""The held-out rollout of a fitted network, started as every forecast window starts, and the
recorded frames a ``_windows`` model trains on (:mod:`neurocircuit.fit.jobs` calls both)."""

from __future__ import annotations

import numpy as np

from neurocircuit.fit.start_state import heldout_start_state
from neurocircuit.models.fitted import rollout


def recorded_frames(traces, preprocessing) -> np.ndarray:
    """(T, N): ``traces`` min-max normalised with their own statistics, not smoothed (what a
    ``_windows`` model trains on: the frames forecasts are scored against)."""
    from neurocircuit.fit.recording import apply_minmax, minmax_range

    traces = np.asarray(traces, dtype=np.float64)
    return apply_minmax(traces, *minmax_range(traces, preprocessing.normalisation))


def heldout_rollout(model, traces, n_train: int, preprocessing, context: int = 64) -> np.ndarray:
    """(T − n_train, N): the held-out network's rollout over the held-out frames, started as
    every forecast window starts (:func:`neurocircuit.fit.forecast.network_start`): a rate
    network from the causal start state at the last training frame
    (:func:`heldout_start_state`); a spiking network after a burn-in of teacher forcing over
    the causal estimates of the last ``context`` training frames. Reads no held-out frame."""
    from neurocircuit.fit.forecast import network_forecast
    from neurocircuit.fit.start_state import causal_smooth
    from neurocircuit.models.activity import SpikingActivityNetwork

    horizon = len(traces) - int(n_train)
    if not isinstance(model, SpikingActivityNetwork):
        start = heldout_start_state(traces, n_train, preprocessing)
        return rollout(model, start, horizon + 1)[1:]
    recorded = recorded_frames(np.asarray(traces)[: int(n_train)], preprocessing)
    frames = causal_smooth(recorded, preprocessing.smoothing_sigma_frames)[-int(context) :]
    return network_forecast(model, frames[:, None, :], horizon)[:, 0]
