"""The fit stage's jobs: check a recording, fit it in sample, forecast held-out frames, merge.

Each job reads one recording, resolves nothing from the config (its settings arrive resolved, see
:mod:`neurocircuit.fit.settings`) and writes its outputs atomically; the scores JSON is written
last, so its presence means the job finished.

1. **Rollout**: the network starts from the first frame and is fed back its own output for all
   remaining frames (never the data: one-step-ahead scores are meaningless on smoothed data).
2. **pVar stopping**: training stops when the rollout's pVar reaches ``stop_pvar``.
3. **Baselines** on the same frames: each neuron's time-mean and a ridge AR(1) rolled out the
   same way (in sample); the training mean, the last training frame and the AR(1) (held out).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from neurocircuit.fit.recording import (
    describe_preprocessing,
    load_activity,
    preprocess,
    preprocess_split,
)
from neurocircuit.fit.settings import FitSettings
from neurocircuit.fit.training import FitRun, history_rows, train_on_sequence
from neurocircuit.learning.training import write_history_csv
from neurocircuit.models.fitted import rollout, save_fitted_model
from neurocircuit.models.names import parse_model_name
from neurocircuit.runtime import atomic_path, write_json


def _train_run(target, settings: FitSettings, split: str, scores_path, logger) -> FitRun:
    """Train one fit of ``settings`` on ``target``, resuming an interrupted run of the same
    settings from ``resume/{split}.pt`` beside the scores file."""
    return train_on_sequence(
        target,
        parse_model_name(settings.model),
        network_options=settings.network,
        training=settings.training,
        seed=settings.seed,
        device=settings.device,
        convergence_pvar=settings.convergence_pvar,
        checkpoint_path=resume_checkpoint_path(scores_path, split),
        fingerprint=_resume_fingerprint(settings, split),
        logger=logger,
    )


def _resume_fingerprint(settings: FitSettings, split: str) -> dict:
    """What a checkpoint must share to be resumed: the run and its data, network and split.
    The training options are compared by the training loop itself, which lets ``epochs``
    grow (more iterations continue a run); scoring-only settings are left out."""
    provenance = settings.provenance()
    kept = ("dataset", "model", "seed", "preprocessing", "network", "heldout_fraction")
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


def _run_labels(settings: FitSettings) -> dict:
    spec = parse_model_name(settings.model)
    return {
        "dataset": settings.dataset,
        "model": settings.model,
        "seed": settings.seed,
        "dynamics": spec.dynamics,
        "dale": spec.dale,
        "dale_mode": spec.dale_mode if spec.dale else None,
        "method": spec.method,
    }


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
    """``weights`` (presynaptic × postsynaptic) and ``neuron_sign`` (empty without Dale)."""
    weight = model.recurrent_weight().numpy()
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


def _training_summary(run: FitRun, settings: FitSettings) -> dict:
    result = run.result
    return {
        "convergence_pvar": settings.convergence_pvar,
        f"iterations_to_pvar_{settings.convergence_pvar:g}": run.iterations_to_convergence,
        "iterations": result.epochs_run,
        "best_iteration": result.best_epoch,
        "best_training_pvar": result.best_score,
        "stop_reason": result.stop_reason,
        "wall_time_s": float(sum(row["epoch_time_s"] for row in result.history)),
        "device": result.device,
    }


def _in_sample_baselines(target: np.ndarray, settings: FitSettings):
    """(ridge, predictions) of the in-sample baselines on frames 1..T-1: time-mean, AR(1)."""
    from neurocircuit.metrics import predict_ar1_rollout, select_ar1_ridge

    ridge = settings.ar1_ridge if settings.ar1_ridge is not None else select_ar1_ridge(target)
    scored = target[1:]
    return ridge, {
        "mean": np.broadcast_to(scored.mean(axis=0), scored.shape),
        "ar1": predict_ar1_rollout(target, ridge)[1:],
    }


def fit_activity_file(
    activity_path: str | Path,
    outputs: dict,
    settings: FitSettings,
    logger=None,
) -> dict:
    """The in-sample fit of one (dataset, model, seed): train on the whole recording, score
    the rollout and the baselines on the predicted frames 1..T-1.

    ``outputs``: paths for ``model`` (.pt), ``prediction`` (.h5), ``history`` (.csv),
    ``per_neuron`` (.csv), ``weights`` (.npz: ``weights`` presynaptic × postsynaptic and
    ``neuron_sign``, empty without Dale) and ``scores`` (.json). Returns the scores.
    """
    import pandas as pd

    from neurocircuit.metrics import pvar_per_neuron
    from neurocircuit.runtime import package_versions

    recording = load_activity(
        activity_path, settings.frame_period_s, settings.max_neurons, settings.max_frames
    )
    target = preprocess(recording.traces, settings.preprocessing)
    if logger:
        logger.info(
            "%s: %d neurons x %d frames, %s min-max, sigma %.3g frames; training %s",
            activity_path,
            recording.n_neurons,
            recording.n_frames,
            settings.preprocessing.normalisation,
            settings.preprocessing.smoothing_sigma_frames,
            settings.model,
        )
    run = _train_run(target, settings, "full", outputs["scores"], logger)
    prediction = rollout(run.model, target[0], target.shape[0])
    ridge, baselines = _in_sample_baselines(target, settings)
    scored = target[1:]  # frame 0 is given to every predictor
    scores = {
        **_run_labels(settings),
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
        **_training_summary(run, settings),
        "settings": settings.provenance(),
        "versions": package_versions(),
        "source": recording.source,
    }
    per_neuron = pd.DataFrame(
        {
            "neuron": np.arange(recording.n_neurons),
            "pvar": pvar_per_neuron(prediction[1:], scored),
            "baseline_mean": pvar_per_neuron(baselines["mean"], scored),
            "baseline_ar1": pvar_per_neuron(baselines["ar1"], scored),
        }
    )
    metadata = {
        **_run_labels(settings),
        "preprocessing": describe_preprocessing(settings.preprocessing),
    }
    save_fitted_model(run.model, outputs["model"], metadata)
    write_prediction_h5(
        outputs["prediction"],
        target,
        prediction,
        recording.time_s,
        {
            **_run_labels(settings),
            "normalisation": scores["normalisation"],
            "smoothing_sigma_frames": settings.preprocessing.smoothing_sigma_frames,
            "pvar": scores["pvar"],
        },
    )
    write_history_csv(history_rows(run.result.history), outputs["history"])
    _write_csv(per_neuron, outputs["per_neuron"])
    write_weights_npz(run.model, outputs["weights"])
    write_json(scores, outputs["scores"])
    _remove_checkpoint(resume_checkpoint_path(outputs["scores"], "full"))
    return scores


def fit_heldout_file(
    activity_path: str | Path, outputs: dict, settings: FitSettings, logger=None
) -> dict:
    """Forecasting: train on the first (1 − heldout_fraction) of the frames, roll the network
    out from the last training frame over the held-out frames, score it and the forecasting
    baselines there. Each part is normalised with training statistics and smoothed alone.

    ``outputs``: ``model`` (.pt), ``prediction`` (.h5: held-out target and forecast),
    ``history`` (.csv) and ``scores`` (.json). Returns the scores.
    """
    from neurocircuit.metrics import (
        heldout_baseline_predictions,
        select_ar1_ridge,
        split_train_test,
    )

    recording = load_activity(
        activity_path, settings.frame_period_s, settings.max_neurons, settings.max_frames
    )
    n_train = split_train_test(recording.n_frames, settings.heldout_fraction)
    train_part, test_part = preprocess_split(recording.traces, settings.preprocessing, n_train)
    run = _train_run(train_part, settings, "heldout", outputs["scores"], logger)
    forecast = rollout(run.model, train_part[-1], test_part.shape[0] + 1)[1:]
    ridge = settings.ar1_ridge if settings.ar1_ridge is not None else select_ar1_ridge(train_part)
    baselines = heldout_baseline_predictions(train_part, test_part, ridge)
    scores = {
        **_run_labels(settings),
        **_named_scores("pvar_heldout", forecast, test_part),
        "heldout_fraction": settings.heldout_fraction,
        "n_train_frames": n_train,
        "n_heldout_frames": int(test_part.shape[0]),
        "heldout_ar1_ridge": ridge,
        "heldout_training_pvar": run.result.best_score,
        "heldout_iterations": run.result.epochs_run,
        "heldout_wall_time_s": float(sum(row["epoch_time_s"] for row in run.result.history)),
        "heldout_protocol": "trained on the first frames only; the network and the AR(1) are "
        "rolled out from the last training frame; normalisation statistics from the training "
        "frames, smoothing per part",
    }
    for name, predicted in baselines.items():
        scores.update(_named_scores(f"baseline_pvar_{name}_heldout", predicted, test_part))
    save_fitted_model(run.model, outputs["model"], _run_labels(settings))
    write_prediction_h5(
        outputs["prediction"],
        test_part,
        forecast,
        recording.time_s[n_train:],
        {**_run_labels(settings), "normalisation": settings.preprocessing.normalisation},
    )
    write_history_csv(history_rows(run.result.history), outputs["history"])
    write_json(scores, outputs["scores"])
    _remove_checkpoint(resume_checkpoint_path(outputs["scores"], "heldout"))
    return scores


def merge_fit_metrics(scores_path, heldout_path, metrics_path) -> dict:
    """metrics.json of a run: the in-sample scores with the held-out ones added."""
    with open(scores_path) as fh:
        metrics = json.load(fh)
    with open(heldout_path) as fh:
        heldout = json.load(fh)
    metrics.update({k: v for k, v in heldout.items() if k not in metrics})
    write_json(metrics, metrics_path)
    return metrics


def fit_job(kind: str, activity_path, outputs: dict, run: dict, logger=None) -> dict:
    """One fit rule: ``kind`` "full" (in-sample) or "heldout". ``run``: the job's params
    (dataset, model, seed, device and the resolved ``settings``)."""
    settings = FitSettings.from_run(run)
    if kind == "full":
        return fit_activity_file(activity_path, outputs, settings, logger)
    if kind == "heldout":
        return fit_heldout_file(activity_path, outputs, settings, logger)
    raise ValueError(f"fit_job: kind must be 'full' or 'heldout', got '{kind}'")


def check_activity_file(
    activity_path: str | Path,
    check_path: str | Path,
    recording: dict,
    dataset: str,
) -> dict:
    """Read a recording the way the fit jobs will and write a short summary (JSON).

    Runs as a light job before any training job, so a file with NaN rows, zero neurons or the
    wrong shape stops the workflow with one line naming the file, before a GPU job is queued.
    ``recording``: ``frame_period_s``, ``max_neurons``, ``max_frames`` (the data set's settings).
    """
    loaded = load_activity(
        activity_path,
        recording["frame_period_s"],
        recording["max_neurons"],
        recording["max_frames"],
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
