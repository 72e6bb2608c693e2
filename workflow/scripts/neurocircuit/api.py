"""A fitted network in Python, outside the workflow: :func:`load_fit` and :class:`FittedRun`.

A fit run's folder, ``results/fit/{dataset}/{model}/seed{seed}/``, holds the in-sample network
(``model.pt``, trained on the whole recording), the held-out one (``heldout/model.pt``, trained
on the first frames, forecasting the rest) and their scores (``metrics.json``, or
``scores.json`` and ``heldout/scores.json`` before the run's metrics are merged).
:func:`load_fit` reads one of the two networks with what a user needs to run it on their own
data: its :class:`~neurocircuit.models.names.ModelSpec`, the recording's preprocessing, and
helpers to preprocess activity, roll out, forecast and ablate, each a thin call of the code the
workflow runs (:mod:`neurocircuit.models.fitted`, :mod:`neurocircuit.fit.recording`,
:mod:`neurocircuit.fit.forecast`, :mod:`neurocircuit.fit.start_state`,
:mod:`neurocircuit.ablation.orders`). docs/python-api.md walks through it.

Arrays are time-major, (T frames, N neurons), as inside the library; activity files store
neurons × time. The networks' activity lives in [0, 1]: the recording min-max normalised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurocircuit.fit.recording import Preprocessing

IN_SAMPLE, HELDOUT = "in_sample", "heldout"


@dataclass
class FittedRun:
    """One fitted network of a run folder and what it was fitted on.

    ``network``: the ``RateActivityNetwork`` or ``SpikingActivityNetwork`` (a torch module on
    the CPU, in eval mode); ``spec``: its :class:`~neurocircuit.models.names.ModelSpec`;
    ``preprocessing``: min-max normalisation and Gaussian smoothing σ (frames) of the recording;
    ``split``: "in_sample" or "heldout"; ``metrics``: the run's scores (metrics.json);
    ``model_path``: the file the network came from.
    """

    run_dir: Path
    split: str
    network: object
    spec: object
    preprocessing: Preprocessing
    metrics: dict = field(repr=False)
    model_path: Path

    @property
    def n_units(self) -> int:
        """N: one unit per recorded neuron."""
        return int(self.network.n_units)

    @property
    def weights(self) -> np.ndarray:
        """(N, N) unit-to-unit connectivity, [post, pre]: W[i, j] from neuron j to neuron i,
        Dale's law and masks applied (``effective_connectivity()``: what ablation ranks)."""
        return self.network.effective_connectivity().numpy().astype(np.float64)

    @property
    def neuron_sign(self) -> np.ndarray | None:
        """(N,) +1 excitatory / -1 inhibitory under Dale's law, else None."""
        sign = self.network.neuron_sign()
        return None if sign is None else sign.detach().cpu().numpy()

    def _check_activity(self, activity, name: str, ndims=(2,)) -> np.ndarray:
        """``activity`` as float64, time-major with N neurons on its last axis and ``ndims``
        axes, else one clear error."""
        x = np.asarray(activity, dtype=np.float64)
        if x.ndim not in ndims or x.shape[-1] != self.n_units or x.shape[0] < 1:
            shape = f"(T, {self.n_units})" + (f" or (T, B, {self.n_units})" if 3 in ndims else "")
            raise ValueError(
                f"{name} must be time-major {shape} for the network in {self.model_path}, got "
                f"shape {x.shape} (a neurons × time array: pass .T)"
            )
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name} holds NaN or infinite values")
        return x

    def preprocess(self, activity, reference=None, smooth: bool = True) -> np.ndarray:
        """(T, N) ``activity`` (raw ΔF/F or fluorescence, time-major) as the fit read its
        recording: min-max normalised (``preprocessing.normalisation``: one range, or one per
        neuron) with the range of ``reference`` (raw (T', N) frames; default ``activity``
        itself: the in-sample fit's; the held-out fit took its training frames'), then, with
        ``smooth``, Gaussian smoothing along time with σ = ``preprocessing.
        smoothing_sigma_frames`` (the fit's target). Forecast contexts are read unsmoothed
        (``smooth=False``): :meth:`forecast` smooths them causally itself."""
        from neurocircuit.fit.recording import apply_minmax, minmax_range, smooth_in_time

        x = self._check_activity(activity, "activity")
        ref = x if reference is None else self._check_activity(reference, "reference")
        low, high = minmax_range(ref, self.preprocessing.normalisation)
        normalised = apply_minmax(x, low, high)
        if not smooth:
            return normalised
        return smooth_in_time(normalised, self.preprocessing.smoothing_sigma_frames)

    def rollout(self, start, n_frames: int) -> np.ndarray:
        """(n_frames, N): the network run on its own output from the frame ``start`` (N,),
        normalised (clipped into [0, 1]); row 0 is ``start``, row k the prediction of frame k.
        The workflow's in-sample prediction is ``rollout(target[0], len(target))``."""
        from neurocircuit.models.fitted import rollout

        start = self._check_activity(np.asarray(start)[None, :], "start")[0]
        return rollout(self.network, start, int(n_frames))

    def forecast(self, context, horizon: int) -> np.ndarray:
        """(H, N) forecast of the ``horizon`` H frames after ``context`` (C, N): normalised,
        unsmoothed recorded frames (``preprocess(..., smooth=False)``); (C, B, N) forecasts B
        windows at once, (H, B, N). As the workflow's windowed forecasts: each context frame
        becomes its causal estimate (one-sided Gaussian of σ, :func:`~neurocircuit.fit.
        start_state.causal_smooth`: nothing after the start is read), the network starts from
        it (a rate network from the last one, the start state; a spiking network teacher-forced
        through them) and runs on its own output (:func:`~neurocircuit.fit.forecast.
        network_forecast`)."""
        from neurocircuit.fit.forecast import network_forecast
        from neurocircuit.fit.start_state import causal_smooth

        frames = self._check_activity(context, "context", ndims=(2, 3))
        single = frames.ndim == 2
        causal = causal_smooth(frames, self.preprocessing.smoothing_sigma_frames)
        forecast = network_forecast(self.network, causal[:, None] if single else causal, horizon)
        return forecast[:, 0] if single else forecast

    def ablate(self, strategy: str, fraction: float, seed: int = 0):
        """A copy of the network with ``fraction`` of its connections removed in the order of
        ``strategy`` (one of :data:`~neurocircuit.ablation.orders.ALL_STRATEGIES`: "random",
        "weakest", "strongest", "hubs", ...; ranked on :attr:`weights`, as the workflow's
        ablation curves; ``seed`` orders the random ones). ``self.network`` is left intact; the
        removed connections are the copy's ``connection_mask`` == 0 where :attr:`weights` != 0."""
        import copy

        from neurocircuit.ablation.orders import ablation_mask

        mask = ablation_mask(self.weights, strategy, float(fraction), int(seed))
        ablated = copy.deepcopy(self.network)
        ablated.set_connection_mask(mask)
        return ablated

    def saved_prediction(self) -> dict:
        """The run's own prediction.h5 beside the model, time-major: ``target`` (T, N, the
        preprocessed recording: all of it in sample, the held-out block held out),
        ``prediction`` (T, N) and ``time_s`` (T,)."""
        import h5py

        path = self.model_path.parent / "prediction.h5"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the run's prediction file is missing")
        with h5py.File(path, "r") as h5:
            return {
                "target": np.asarray(h5["target"], dtype=np.float64).T,
                "prediction": np.asarray(h5["prediction"], dtype=np.float64).T,
                "time_s": np.asarray(h5["time_s"], dtype=np.float64),
            }


def _read_json(path: Path) -> dict:
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable JSON file ({error})") from None


def read_run_metrics(run_dir: str | Path) -> dict:
    """The scores of a run folder: its metrics.json, or (before the workflow merges them)
    scores.json with heldout/scores.json's keys added; one error naming the folder when there
    is neither."""
    run_dir = Path(run_dir)
    if (run_dir / "metrics.json").is_file():
        return _read_json(run_dir / "metrics.json")
    if not (run_dir / "scores.json").is_file():
        raise FileNotFoundError(
            f"{run_dir}: no metrics.json or scores.json (a fit run folder is "
            "results/fit/{dataset}/{model}/seed{seed}/)"
        )
    metrics = _read_json(run_dir / "scores.json")
    if (run_dir / "heldout" / "scores.json").is_file():
        heldout = _read_json(run_dir / "heldout" / "scores.json")
        metrics.update({key: value for key, value in heldout.items() if key not in metrics})
    return metrics


def _preprocessing(metrics: dict, source: Path) -> Preprocessing:
    """The run's :class:`Preprocessing` from its scores' ``preprocessing`` entry."""
    saved = metrics.get("preprocessing")
    if not isinstance(saved, dict) or "smoothing_sigma_frames" not in saved:
        raise ValueError(f"{source}: no 'preprocessing' entry (normalisation, sigma)")
    return Preprocessing(saved["normalisation"], float(saved["smoothing_sigma_frames"]))


def load_fit(run_dir: str | Path, heldout: bool = False) -> FittedRun:
    """The fitted network of ``run_dir`` (``results/fit/{dataset}/{model}/seed{seed}/``): the
    in-sample one (``model.pt``), or with ``heldout`` the held-out one (``heldout/model.pt``),
    with its spec (:func:`~neurocircuit.models.names.model_spec` of the run's model name),
    preprocessing and scores. Errors name the file that is missing or unreadable."""
    from neurocircuit.models.fitted import load_fitted_model
    from neurocircuit.models.names import model_spec

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such fit run folder")
    run_dir = run_dir.resolve()  # the files stay found after a notebook changes folder
    model_path = run_dir / "heldout" / "model.pt" if heldout else run_dir / "model.pt"
    network, metadata = load_fitted_model(model_path)
    metrics = read_run_metrics(run_dir)
    name = metadata.get("model") or metrics.get("model")
    if name is None:
        raise ValueError(f"{model_path}: no model name in the file or the run's scores")
    return FittedRun(
        run_dir=run_dir,
        split=HELDOUT if heldout else IN_SAMPLE,
        network=network,
        spec=model_spec(name),
        preprocessing=_preprocessing(metrics, run_dir),
        metrics=metrics,
        model_path=model_path,
    )
