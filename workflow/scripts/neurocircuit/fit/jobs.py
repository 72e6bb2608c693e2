"""The fit stage's jobs: check a recording, fit it in sample, forecast held-out frames, merge.

A fit job has a split: ``in_sample`` (train on the whole recording and score the same frames) or
``heldout`` (train on the first frames, forecast the last ones). It resolves nothing from the
config: :func:`fit_job` reads its params once into a :class:`~neurocircuit.fit.settings.FitRun`
(the model's spec and the resolved settings, :mod:`neurocircuit.fit.settings`) and hands that
down. Outputs are written atomically; the scores JSON is written last, so its presence means the
job finished.

1. **Rollout**: the network starts from the first frame and is fed back its own output for all
   remaining frames (never the data: one-step-ahead scores are meaningless on smoothed data).
2. **pVar stopping**: training stops when the rollout's pVar reaches ``stop_pvar``.
3. **Baselines** on the same frames: each neuron's time-mean and a ridge AR(1) rolled out the
   same way (in sample); the training mean, the last training frame and the AR(1) (held out).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from neurocircuit.fit.heldout_rollout import heldout_rollout, recorded_frames
from neurocircuit.fit.recording import (
    describe_preprocessing,
    load_activity,
    preprocess,
    preprocess_split,
)
from neurocircuit.fit.settings import FitRun, FitSettings
from neurocircuit.fit.training import (
    TrainedFit,
    history_rows,
    iterations_to_half_gain,
    train_on_sequence,
)
from neurocircuit.fit.truth import (
    heldout_truth_scores,
    in_sample_truth_scores,
    read_teacher_truth,
)
from neurocircuit.learning.training import write_history_csv
from neurocircuit.metrics import pvar
from neurocircuit.models.fitted import rollout, save_fitted_model
from neurocircuit.models.names import WINDOWS
from neurocircuit.runtime import atomic_path, write_json

IN_SAMPLE = "in_sample"
HELDOUT = "heldout"
SPLITS = (IN_SAMPLE, HELDOUT)
"""A fit's splits: in sample (the whole recording) and held out (forecast the last frames)."""
DEPRECATED_SPLITS = {"full": IN_SAMPLE}


def resolve_split(split: str) -> str:
    """``split`` by its name (:data:`SPLITS`); "full", the old name of ``in_sample``, is read
    with a deprecation warning."""
    if split in DEPRECATED_SPLITS:
        new = DEPRECATED_SPLITS[split]
        logging.getLogger(__name__).warning("fit split '%s' is deprecated: use '%s'", split, new)
        return new
    if split not in SPLITS:
        raise ValueError(f"fit: split must be 'in_sample' or 'heldout', got '{split}'")
    return split


def _train(
    target, run: FitRun, split: str, scores_path, logger, validation_frames: int = 0, raw=None
) -> TrainedFit:
    """Train the network of ``run`` on ``target``, resuming an interrupted run of the same
    settings from ``resume/{split}.pt`` beside the scores file; the last ``validation_frames``
    of ``target`` are its validation block. A ``_windows`` model trains on ``raw`` (the raw
    frames of ``target``) normalised and not smoothed, with a validation block of
    ``validation_fraction`` in sample."""
    windows = run.spec.objective == WINDOWS
    preprocessing = run.settings.preprocessing
    if windows and not validation_frames:
        validation_frames = validation_split(len(target), run.settings.validation_fraction)
    return train_on_sequence(
        target,
        run.spec,
        network_options=run.settings.network,
        training=run.settings.training,
        seed=run.seed,
        device=run.device,
        checkpoint_path=resume_checkpoint_path(scores_path, split),
        fingerprint=_resume_fingerprint(run, split),
        validation_frames=validation_frames,
        logger=logger,
        recorded=recorded_frames(raw, preprocessing) if windows else None,
        sigma=preprocessing.smoothing_sigma_frames,
    )


def _resume_fingerprint(run: FitRun, split: str) -> dict:
    """What a checkpoint must share to be resumed: the run and its data, network and split.
    The training options are compared by the training loop itself, which lets ``epochs``
    grow (more iterations continue a run); scoring-only settings are left out."""
    provenance = run.provenance()
    kept = ("dataset", "model", "seed", "preprocessing", "network", "heldout_fraction")
    kept += ("validation_fraction",)
    kept += ("frame_period_s", "max_neurons", "max_frames")
    return {"split": split, **{key: provenance[key] for key in kept}}


def resume_checkpoint_path(scores_path: str | Path, split: str) -> Path:
    """Where a fit's training checkpoint lives while it trains (resumed after a kill)."""
    return Path(scores_path).parent / "resume" / f"{split}.pt"


def _remove_checkpoint(checkpoint: Path) -> None:
    """Delete a finished run's training checkpoint (and its folder when that is left empty)."""
    checkpoint.unlink(missing_ok=True)
    try:
        checkpoint.parent.rmdir()
    except OSError:
        pass


def write_prediction_h5(path, target, prediction, time_s, attributes: dict) -> None:
    """``target`` and ``prediction`` (stored neurons × time, float32) and ``time_s``, atomically."""
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            h5.create_dataset("target", data=np.asarray(target, np.float32).T)
            h5.create_dataset("prediction", data=np.asarray(prediction, np.float32).T)
            h5.create_dataset("time_s", data=np.asarray(time_s, np.float64))
            for key, value in attributes.items():
                h5.attrs[key] = "" if value is None else value


def write_weights_npz(model, path) -> None:
    """``weights``: the effective unit-to-unit connectivity (presynaptic × postsynaptic; W, or
    W @ W_out for a full readout) and ``neuron_sign`` (empty without Dale)."""
    weight = model.effective_connectivity().numpy()
    sign = model.neuron_sign()
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                weights=weight.T,
                neuron_sign=np.zeros(0) if sign is None else sign.numpy(),
            )


def _write_csv(table, path) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def _named_scores(prefix: str, prediction, target) -> dict:
    from neurocircuit.metrics import score_prediction

    scores = score_prediction(prediction, target)
    return {
        prefix: scores["pvar"],
        f"{prefix}_per_neuron_median": scores["pvar_per_neuron_median"],
    }


def _best_scores(result, prefix: str, windows: bool) -> dict:
    """The kept iteration's score under its own name: a pVar (the single rollout's training or
    validation pVar) or, for a ``_windows`` model, the validation windows' forecast MAE."""
    if windows:
        return {f"{prefix}_pvar": None, f"{prefix}_forecast_mae": -float(result.best_score)}
    return {f"{prefix}_pvar": result.best_score}


def _training_summary(trained: TrainedFit, baseline_pvar: float, windows: bool = False) -> dict:
    """How training went; ``baseline_pvar``: the time-mean predictor's pVar on the frames the
    history scores (for iterations_to_half_gain)."""
    result = trained.result
    return {
        "iterations_to_half_gain": iterations_to_half_gain(result.history, baseline_pvar),
        "iterations": result.epochs_run,
        "best_iteration": result.best_epoch,
        **_best_scores(result, "best_training", windows),
        "stop_reason": result.stop_reason,
        "wall_time_s": float(sum(row["epoch_time_s"] for row in result.history)),
        "device": result.device,
    }


def _in_sample_baselines(target: np.ndarray, settings: FitSettings):
    """(ridge, predictions) of the in-sample baselines on frames 1..T-1: time-mean, AR(1)."""
    from neurocircuit.metrics import predict_ar1_rollout, select_ar1_ridge

    ridge = settings.ar1_ridge
    if ridge is None:
        ridge = select_ar1_ridge(target, validation_fraction=settings.validation_fraction)
    scored = target[1:]
    return ridge, {
        "mean": np.broadcast_to(scored.mean(axis=0), scored.shape),
        "ar1": predict_ar1_rollout(target, ridge)[1:],
    }


def _read_inputs(activity_path, run: FitRun, truth_path):
    """(recording, truth) of a fit job: the recording as the run's settings read it (frame
    period, crop) and the ground truth of a synthetic session with a teacher (else None)."""
    recording = load_activity(activity_path, **run.settings.recording())
    return recording, read_teacher_truth(truth_path, recording.truth_index)


def fit_in_sample_file(
    activity_path: str | Path,
    outputs: dict,
    run: FitRun,
    logger=None,
    truth_path: str | Path | None = None,
) -> dict:
    """The in-sample fit of one (dataset, model, seed): train on the whole recording, score
    the rollout and the baselines on the predicted frames 1..T-1 (and, on a synthetic session
    with a teacher, ``truth_path``, against the known circuit).

    ``outputs``: paths for ``model`` (.pt), ``prediction`` (.h5), ``history`` (.csv),
    ``per_neuron`` (.csv), ``weights`` (.npz: ``weights`` presynaptic × postsynaptic and
    ``neuron_sign``, empty without Dale) and ``scores`` (.json). Returns the scores.
    """
    from neurocircuit.runtime import package_versions

    settings = run.settings
    recording, truth = _read_inputs(activity_path, run, truth_path)
    target = preprocess(recording.traces, settings.preprocessing)
    _log_start(logger, activity_path, recording, run)
    trained = _train(target, run, IN_SAMPLE, outputs["scores"], logger, raw=recording.traces)
    prediction = rollout(trained.model, target[0], target.shape[0])
    ridge, baselines = _in_sample_baselines(target, settings)
    scored = target[1:]  # frame 0 is given to every predictor
    scores = {
        **run.labels(),
        **_named_scores("pvar", prediction[1:], scored),
        **_named_scores("baseline_pvar_mean", baselines["mean"], scored),
        **_named_scores("baseline_pvar_ar1", baselines["ar1"], scored),
        "ar1_ridge": ridge,
        "normalisation": settings.preprocessing.normalisation,
        "preprocessing": describe_preprocessing(settings.preprocessing),
        "scored_frames": "1..T-1 of the whole recording (frame 0 starts every rollout)",
        "n_neurons": recording.n_neurons,
        "n_frames": recording.n_frames,
        "frame_period_s": recording.frame_period_s,
        "interpolated_values": recording.interpolated_values,
        "dale_on_every_path": trained.model.dale_on_every_path(),
        **_training_summary(
            trained, pvar(baselines["mean"], scored), run.spec.objective == WINDOWS
        ),
        "settings": run.provenance(),
        "spec": run.spec.to_dict(),
        "versions": package_versions(),
        "source": recording.source,
    }
    if truth is not None:
        connectivity = trained.model.effective_connectivity().numpy()
        sigma = settings.preprocessing.smoothing_sigma_frames
        scores |= in_sample_truth_scores(
            truth, recording.truth_index, target, sigma, scores, connectivity, run.spec
        )
    _write_in_sample_outputs(outputs, trained, recording, run, target, prediction, baselines)
    write_json(scores, outputs["scores"])
    _remove_checkpoint(resume_checkpoint_path(outputs["scores"], IN_SAMPLE))
    return scores


def _log_start(logger, activity_path, recording, run: FitRun) -> None:
    if logger:
        logger.info(
            "%s: %d neurons x %d frames, %s min-max, sigma %.3g frames; training %s",
            activity_path,
            recording.n_neurons,
            recording.n_frames,
            run.settings.preprocessing.normalisation,
            run.settings.preprocessing.smoothing_sigma_frames,
            run.model,
        )


def _write_in_sample_outputs(outputs, trained, recording, run, target, prediction, baselines):
    """Model, prediction, history, per-neuron scores and weights of an in-sample fit."""
    import pandas as pd

    from neurocircuit.metrics import pvar_per_neuron

    scored = target[1:]
    fit_pvar = _named_scores("pvar", prediction[1:], scored)["pvar"]
    per_neuron = pd.DataFrame(
        {
            "neuron": np.arange(recording.n_neurons),
            "pvar": pvar_per_neuron(prediction[1:], scored),
            "baseline_mean": pvar_per_neuron(baselines["mean"], scored),
            "baseline_ar1": pvar_per_neuron(baselines["ar1"], scored),
        }
    )
    preprocessing = run.settings.preprocessing
    labels = run.labels()
    metadata = {**labels, "preprocessing": describe_preprocessing(preprocessing)}
    save_fitted_model(trained.model, outputs["model"], metadata)
    write_prediction_h5(
        outputs["prediction"],
        target,
        prediction,
        recording.time_s,
        {
            **labels,
            "normalisation": preprocessing.normalisation,
            "smoothing_sigma_frames": preprocessing.smoothing_sigma_frames,
            "pvar": fit_pvar,
        },
    )
    write_history_csv(history_rows(trained.result.history), outputs["history"])
    _write_csv(per_neuron, outputs["per_neuron"])
    write_weights_npz(trained.model, outputs["weights"])


def validation_split(n_train: int, validation_fraction: float) -> int:
    """Frames of the validation block at the end of ``n_train`` training frames (>= 1)."""
    n_validation = int(round(n_train * validation_fraction))
    if not 1 <= n_validation <= n_train - 2:
        raise ValueError(
            f"validation_fraction {validation_fraction} of {n_train} training frames leaves "
            f"no validation block or no fit block"
        )
    return n_validation


HELDOUT_PROTOCOL = (
    "frames [0, n_fit) fit the network, [n_fit, n_train) validate it "
    "(they pick the iteration kept and the AR(1) ridge), [n_train, T) are held out and "
    "scored once; the network is rolled out as every forecast window starts: a rate network "
    "from the causal start state at the last training frame (neurocircuit.fit.start_state: a "
    "one-sided Gaussian of the smoothing sigma over the frames up to it), a spiking network "
    "after teacher forcing over the causal estimates of the last 64 training frames; the "
    "AR(1) from the last smoothed training frame; "
    "normalisation statistics from the training frames, smoothing per part"
)


def fit_heldout_file(
    activity_path: str | Path,
    outputs: dict,
    run: FitRun,
    logger=None,
    truth_path: str | Path | None = None,
) -> dict:
    """Forecasting: train on the first (1 − heldout_fraction) of the frames, of which the last
    ``validation_fraction`` form a validation block (left out of the loss; it picks the
    iteration kept and the AR(1) ridge), roll the network out from the causal start state at
    the last training frame (:func:`neurocircuit.fit.start_state.heldout_start_state`, as
    every forecast window starts) over the held-out frames, score it and the forecasting
    baselines there, once. Each part is normalised with training statistics and smoothed alone.

    ``outputs``: ``model`` (.pt), ``prediction`` (.h5: held-out target and forecast),
    ``history`` (.csv), ``per_neuron`` (.csv: each neuron's held-out pVar beside the
    baselines'), ``weights`` (.npz, as the in-sample fit's) and ``scores`` (.json). Returns the
    scores.
    """
    from neurocircuit.metrics import split_train_test

    settings = run.settings
    recording, truth = _read_inputs(activity_path, run, truth_path)
    n_train = split_train_test(recording.n_frames, settings.heldout_fraction)
    n_validation = validation_split(n_train, settings.validation_fraction)
    train_part, test_part = preprocess_split(recording.traces, settings.preprocessing, n_train)
    trained = _train(
        train_part, run, HELDOUT, outputs["scores"], logger, n_validation,
        raw=recording.traces[:n_train],
    )  # fmt: skip
    forecast = heldout_rollout(trained.model, recording.traces, n_train, settings.preprocessing)
    forecast = forecast[: test_part.shape[0]]
    result = trained.result
    baseline_scores, baselines = _heldout_baselines(train_part, test_part, settings, n_validation)
    scores = {
        **run.labels(),
        **_named_scores("pvar_heldout", forecast, test_part),
        **baseline_scores,
        "heldout_fraction": settings.heldout_fraction,
        "validation_fraction": settings.validation_fraction,
        "n_train_frames": n_train,
        "n_fit_frames": n_train - n_validation,
        "n_validation_frames": n_validation,
        "n_heldout_frames": int(test_part.shape[0]),
        **_best_scores(result, "heldout_validation", run.spec.objective == WINDOWS),
        "heldout_best_iteration": result.best_epoch,
        "heldout_iterations": result.epochs_run,
        "heldout_wall_time_s": float(sum(row["epoch_time_s"] for row in result.history)),
        "heldout_protocol": HELDOUT_PROTOCOL,
        "spec": run.spec.to_dict(),
    }
    if truth is not None:
        sigma = settings.preprocessing.smoothing_sigma_frames
        scores |= heldout_truth_scores(
            truth, recording.truth_index, train_part, test_part, sigma, scores
        )
    save_fitted_model(trained.model, outputs["model"], run.labels())
    write_prediction_h5(
        outputs["prediction"],
        test_part,
        forecast,
        recording.time_s[n_train:],
        {**run.labels(), "normalisation": settings.preprocessing.normalisation},
    )
    write_history_csv(history_rows(result.history), outputs["history"])
    _write_csv(_heldout_per_neuron(forecast, test_part, baselines), outputs["per_neuron"])
    write_weights_npz(trained.model, outputs["weights"])
    write_json(scores, outputs["scores"])
    _remove_checkpoint(resume_checkpoint_path(outputs["scores"], HELDOUT))
    return scores


def _heldout_baselines(train_part, test_part, settings: FitSettings, n_validation: int):
    """Scores of the forecasting baselines on the held-out part, with the AR(1) ridge picked
    on the validation block, and their forecasts (name -> (T_test, N))."""
    from neurocircuit.metrics import heldout_baseline_predictions, select_ar1_ridge

    ridge = settings.ar1_ridge
    if ridge is None:
        ridge = select_ar1_ridge(train_part, validation_fraction=n_validation / len(train_part))
    scores = {"heldout_ar1_ridge": ridge}
    predictions = heldout_baseline_predictions(train_part, test_part, ridge)
    for name, predicted in predictions.items():
        scores.update(_named_scores(f"baseline_pvar_{name}_heldout", predicted, test_part))
    return scores, predictions


def _heldout_per_neuron(forecast, test_part, baselines: dict):
    """pvar_per_neuron.csv of a held-out fit: each neuron's pVar of the forecast over the
    held-out frames, beside the forecasting baselines' (mean, ar1) on the same frames."""
    import pandas as pd

    from neurocircuit.metrics import pvar_per_neuron

    return pd.DataFrame(
        {
            "neuron": np.arange(test_part.shape[1]),
            "pvar": pvar_per_neuron(forecast, test_part),
            "baseline_mean": pvar_per_neuron(baselines["mean"], test_part),
            "baseline_ar1": pvar_per_neuron(baselines["ar1"], test_part),
        }
    )


def merge_fit_metrics(scores_path, heldout_path, metrics_path, *more_paths) -> dict:
    """metrics.json of a run: the in-sample scores with the held-out ones added, then those of
    ``more_paths`` (the windowed forecasts' forecast.json); keys already there are kept."""
    with open(scores_path) as fh:
        metrics = json.load(fh)
    for path in (heldout_path, *more_paths):
        with open(path) as fh:
            added = json.load(fh)
        metrics.update({k: v for k, v in added.items() if k not in metrics})
    write_json(metrics, metrics_path)
    return metrics


def fit_job(
    split: str, activity_path, outputs: dict, params: dict, logger=None, truth_path=None
) -> dict:
    """One fit job: ``split`` "in_sample" or "heldout" (:func:`resolve_split`; "full" is the
    deprecated name of "in_sample"). ``params``: the job's params (dataset, model, seed,
    device and the resolved ``settings``), read once into a :class:`FitRun`; ``truth_path``:
    the ground truth of a synthetic session (None otherwise)."""
    fit = {IN_SAMPLE: fit_in_sample_file, HELDOUT: fit_heldout_file}[resolve_split(split)]
    return fit(activity_path, outputs, FitRun.from_params(params), logger, truth_path)


def check_activity_file(
    activity_path: str | Path,
    check_path: str | Path,
    recording_settings: dict,
    dataset: str,
) -> dict:
    """Read a recording the way the fit jobs will and write a short summary (JSON).

    Runs as a light job before any training job, so a file with NaN rows, zero neurons or the
    wrong shape stops the workflow with one line naming the file, before a GPU job is queued.
    ``recording_settings``: ``frame_period_s``, ``max_neurons``, ``max_frames`` (the data
    set's settings).
    """
    loaded = load_activity(
        activity_path,
        recording_settings["frame_period_s"],
        recording_settings["max_neurons"],
        recording_settings["max_frames"],
    )
    summary = {
        "dataset": dataset,
        "source": str(activity_path),
        "n_neurons": loaded.n_neurons,
        "n_frames": loaded.n_frames,
        "frame_period_s": loaded.frame_period_s,
        "interpolated_values": loaded.interpolated_values,
    }
    write_json(summary, check_path)
    return summary
