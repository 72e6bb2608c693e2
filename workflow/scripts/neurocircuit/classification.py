"""Classification benchmarks: train one spiking classifier per (data set, model, seed), score it
once on the test set, and summarise the runs next to the published reference numbers.

The split is the study's protocol: a stratified validation split of the training set (drawn
with ``split_seed``, the same for every run) picks the epoch (early stopping, best weights);
the test set is scored once, at the end, with those weights.

Importing this module does not import torch (the workflow reads ``resolve_run_settings`` and
``check_classification_config`` at parse time); training imports it on first use.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from neurocircuit.data.registry import get_dataset_spec
from neurocircuit.runtime import (
    atomic_path,
    config_hash,
    package_versions,
    write_json,
)

DATASET_NAMES = ("digits", "mnist", "fashion_mnist", "shd")

MODEL_KEYS = (
    "neuron",
    "recurrent",
    "dale",
    "dale_mode",
    "exc_fraction",
    "ei_balance",
    "dt_ms",
    "tau_mem_ms",
    "tau_syn_ms",
    "tau_out_ms",
    "tau_adapt_ms",
    "reset",
    "surrogate",
    "surrogate_scale",
    "input_scale",
    "recurrent_scale",
    "readout_scale",
)
"""Run settings passed to ``SpikingClassifier`` (besides the layer sizes and the seed)."""

TRAIN_KEYS = (
    "epochs",
    "lr",
    "weight_decay",
    "method",
    "tbptt_window",
    "grad_clip",
    "lr_schedule",
    "lr_min_fraction",
    "patience",
    "eprop_feedback",
)
"""Run settings passed to ``TrainConfig``."""

REFERENCES = {
    "mnist": [
        {
            "accuracy": 0.965,
            "source": "Norse MNIST tutorial (about 96.5 % after 10 epochs)",
            "url": "https://norse.github.io/notebooks/mnist_classifiers.html",
        }
    ],
    "fashion_mnist": [
        {
            "accuracy": 0.863,
            "source": "SpyTorch tutorial 2, 784-100-10 (86.3 %)",
            "url": "https://github.com/fzenke/spytorch",
        }
    ],
    "shd": [
        {
            "accuracy": 0.692,
            "source": "SpyTorch tutorial 4, 700-200rec-20 (69.2 %)",
            "url": "https://github.com/fzenke/spytorch",
        },
        {
            "accuracy": 0.71,
            "source": "Cramer et al. 2020, recurrent SNN (about 71 %)",
            "url": "https://doi.org/10.1109/TNNLS.2020.3044364",
        },
    ],
}
"""Published test accuracies (fractions) of comparable spiking networks, with their sources."""

SUMMARY_COLUMNS = (
    "dataset",
    "model",
    "n_seeds",
    "test_accuracy_mean",
    "test_accuracy_sd",
    "test_accuracy_min",
    "test_accuracy_max",
    "val_accuracy_mean",
    "val_accuracy_sd",
    "train_accuracy_mean",
    "epochs_mean",
    "wall_time_s_mean",
    "device",
    "reference_accuracy",
    "reference_source",
    "reference_alt_accuracy",
    "reference_alt_source",
    "delta_vs_reference",
)


# ------------------------------------------------------------------------------ settings


def _merge(base: dict, overrides: Mapping | None) -> dict:
    if overrides:
        base.update(copy.deepcopy(dict(overrides)))
    return base


def resolve_run_settings(classification: Mapping, dataset: str, model: str) -> dict:
    """The settings of one run: ``defaults``, then ``dataset_settings[dataset]``, then
    ``model_definitions[model]["all"]``, then ``model_definitions[model][dataset]``.

    ``classification`` is the validated ``classification`` config section (defaults filled).
    """
    definitions = classification.get("model_definitions") or {}
    if model not in definitions:
        known = ", ".join(sorted(definitions)) or "none"
        raise ValueError(f"classification model '{model}' is not defined (defined: {known})")
    if dataset not in DATASET_NAMES:
        raise ValueError(
            f"unknown classification data set '{dataset}' (known: {', '.join(DATASET_NAMES)})"
        )
    settings = _merge({}, classification.get("defaults"))
    settings = _merge(settings, (classification.get("dataset_settings") or {}).get(dataset))
    definition = definitions[model] or {}
    settings = _merge(settings, definition.get("all"))
    settings = _merge(settings, definition.get(dataset))
    return settings


def check_classification_config(classification: Mapping) -> None:
    """Cross-checks the schema cannot express: every listed model is defined. One-line error."""
    definitions = classification.get("model_definitions") or {}
    undefined = [m for m in classification.get("models") or [] if m not in definitions]
    if undefined:
        known = ", ".join(sorted(definitions)) or "none"
        raise ValueError(
            f"classification.models lists {', '.join(undefined)}, not defined in "
            f"classification.model_definitions (defined: {known})"
        )


# ---------------------------------------------------------------------------------- data


@dataclass
class ClassificationData:
    """Batches of the three splits and the data set's shape."""

    train: object
    val: object
    test: object
    train_eval: object
    n_inputs: int
    n_classes: int
    sizes: dict


def _encoder_params(settings: Mapping) -> dict:
    encoding = settings["encoding"]
    if encoding == "latency":
        return {
            "tau_steps": settings["latency_tau_ms"] / settings["dt_ms"],
            "threshold": settings["latency_threshold"],
        }
    if encoding == "lif_current":
        return {
            "dt_ms": settings["dt_ms"],
            "tau_mem_ms": settings["current_tau_ms"],
            "gain": settings["current_gain"],
        }
    return {"max_rate_hz": settings["poisson_max_rate_hz"], "dt_ms": settings["dt_ms"]}


def _subsample(labels, indices, max_samples: int | None, seed: int):
    """A stratified subset of ``indices`` of at most ``max_samples`` (all when None)."""
    import numpy as np

    from neurocircuit.data.batches import stratified_split

    if max_samples is None or max_samples >= len(indices):
        return indices
    _, kept = stratified_split(labels[indices], max_samples / len(indices), seed)
    return np.sort(indices[kept])


def load_classification_data(
    dataset: str,
    files: Mapping[str, str | Path],
    settings: Mapping,
    *,
    seed: int,
    validation_fraction: float = 0.1,
    split_seed: int = 0,
    digits_test_fraction: float = 0.2,
    verify_checksums: bool = True,
) -> ClassificationData:
    """Load ``dataset`` from ``files`` (role -> path; empty for digits), split off the
    validation set, and wrap each split in seeded spike batches."""
    from neurocircuit.data.batches import (
        ImageSpikeInputs,
        SpikeBatches,
        event_inputs,
        stratified_split,
    )

    spec = get_dataset_spec(dataset)
    batch_size, eval_batch = settings["batch_size"], settings["eval_batch_size"]
    n_steps = settings["n_steps"]

    if spec.kind == "shd":
        from neurocircuit.data.shd import bin_dataset, read_shd

        for role in ("train", "test"):
            if role not in files:
                raise ValueError(f"shd: no '{role}' file given (expected shd_{role}.h5[.gz])")
        binning = {"n_bins": n_steps, "duration_s": settings["shd_duration_s"]}
        train_all = bin_dataset(read_shd(files["train"]), **binning)
        test = bin_dataset(read_shd(files["test"]), **binning)
        train_idx, val_idx = stratified_split(train_all.labels, validation_fraction, split_seed)
        train_idx = _subsample(
            train_all.labels, train_idx, settings["max_train_samples"], split_seed
        )
        splits = {
            "train": train_all.subset(train_idx),
            "val": train_all.subset(val_idx),
            "test": test,
        }
        inputs = {name: event_inputs(store) for name, store in splits.items()}
        labels = {name: store.labels for name, store in splits.items()}
    else:
        if spec.kind == "embedded":
            from neurocircuit.data.digits import load_digits_dataset

            images = load_digits_dataset(test_fraction=digits_test_fraction, split_seed=split_seed)
        else:
            from neurocircuit.data.idx import load_idx_dataset

            content_md5 = {f.role: f.content_md5 for f in spec.files} if verify_checksums else None
            images = load_idx_dataset(files, n_classes=spec.n_classes, content_md5=content_md5)
        train_idx, val_idx = stratified_split(images.train_labels, validation_fraction, split_seed)
        train_idx = _subsample(
            images.train_labels, train_idx, settings["max_train_samples"], split_seed
        )
        params = _encoder_params(settings)
        encoding = settings["encoding"]
        split_images = {
            "train": (images.train_images[train_idx], images.train_labels[train_idx]),
            "val": (images.train_images[val_idx], images.train_labels[val_idx]),
            "test": (images.test_images, images.test_labels),
        }
        inputs = {
            name: ImageSpikeInputs(pixels, encoding, n_steps, **params)
            for name, (pixels, _) in split_images.items()
        }
        labels = {name: split_labels for name, (_, split_labels) in split_images.items()}

    def batches(name: str, size: int, shuffle: bool, stream: int) -> SpikeBatches:
        # evaluation splits get their own seed streams (Poisson spikes fixed across epochs)
        return SpikeBatches(
            inputs[name], labels[name], batch_size=size, shuffle=shuffle, seed=seed * 4 + stream
        )

    return ClassificationData(
        train=batches("train", batch_size, True, 0),
        val=batches("val", eval_batch, False, 1),
        test=batches("test", eval_batch, False, 2),
        train_eval=batches("train", eval_batch, False, 3),
        n_inputs=spec.n_inputs,
        n_classes=spec.n_classes,
        sizes={name: int(len(lab)) for name, lab in labels.items()},
    )


# ------------------------------------------------------------------------------ training


def build_classifier(settings: Mapping, n_inputs: int, n_classes: int, seed: int):
    """The ``SpikingClassifier`` of one run's settings."""
    from neurocircuit.models.classifier import SpikingClassifier

    kwargs = {key: settings[key] for key in MODEL_KEYS if key in settings}
    return SpikingClassifier(n_inputs, settings["n_hidden"], n_classes, seed=seed, **kwargs)


def _train_config(settings: Mapping, seed: int, device: str, progress: bool):
    from neurocircuit.learning import TrainConfig

    kwargs = {key: settings[key] for key in TRAIN_KEYS if key in settings}
    return TrainConfig(seed=seed, device=device, progress=progress, **kwargs)


RESUMABLE_CHANGES = ("epochs",)
"""Settings that may change between a run and its resumption (more epochs continue training)."""


def _fingerprint(dataset: str, settings: Mapping, seed: int, extra: Mapping) -> dict:
    kept = {k: v for k, v in settings.items() if k not in RESUMABLE_CHANGES}
    return {"dataset": dataset, "seed": int(seed), "settings": kept, **dict(extra)}


def _prepare_checkpoint(checkpoint_path: Path, fingerprint: dict, logger) -> None:
    """Keep an existing checkpoint only if it belongs to this very run; record the run beside it.

    The training loop resumes from ``checkpoint.pt``; a checkpoint left by a run with other
    settings (Snakemake reruns a job whose parameters changed) must not be resumed from.
    """
    sidecar = checkpoint_path.with_name(checkpoint_path.stem + ".run.json")
    wanted = config_hash(fingerprint)
    if checkpoint_path.exists():
        stored = None
        if sidecar.exists():
            try:
                stored = json.loads(sidecar.read_text()).get("hash")
            except (OSError, ValueError):
                stored = None
        if stored != wanted:
            logger.warning(
                "%s belongs to a run with other settings: starting afresh", checkpoint_path
            )
            checkpoint_path.unlink()
    write_json({"hash": wanted, "run": fingerprint}, sidecar)


def _history_rows(history: Sequence[Mapping]) -> list[dict]:
    """History rows with the accuracy columns named for the figures (fractions)."""
    rows = []
    for row in history:
        out = dict(row)
        out["train_accuracy"] = row.get("train_score")
        out["val_accuracy"] = row.get("val_accuracy", row.get("val_score"))
        rows.append(out)
    return rows


def train_classifier(
    dataset: str,
    files: Mapping[str, str | Path],
    *,
    settings: Mapping,
    seed: int,
    metrics_path: str | Path,
    history_path: str | Path,
    checkpoint_path: str | Path | None = None,
    device: str = "auto",
    validation_fraction: float = 0.1,
    split_seed: int = 0,
    digits_test_fraction: float = 0.2,
    verify_checksums: bool = True,
    model_name: str | None = None,
    progress: bool = True,
    logger: logging.Logger | None = None,
) -> dict:
    """Train one spiking classifier, score it once on the test set, write its results.

    Args:
        dataset: "digits", "mnist", "fashion_mnist" or "shd".
        files: role -> path of the data files (see ``neurocircuit.data.registry``); {} for
            digits.
        settings: the run's resolved settings (``resolve_run_settings``).
        seed: network initialisation, batch order and Poisson spikes.
        metrics_path: ``metrics.json`` (written last: its presence means the run finished).
        history_path: learning curves (CSV: epoch, train_accuracy, val_accuracy, losses, lr,
            epoch_time_s, ...).
        checkpoint_path: the training checkpoint (default: ``checkpoint.pt`` beside
            ``metrics_path``); an existing one of the same run is resumed from.
        device: "auto", "cpu" or "cuda".
        validation_fraction, split_seed: the held-out validation split of the training set.
        digits_test_fraction: digits' test split (the data set has none of its own).
        verify_checksums: check idx files against the published content MD5s.
        model_name: the model's name (for the metrics file).

    Returns the metrics dict written to ``metrics_path``: test/val/train accuracy (fractions),
    epochs, best_epoch, wall_time_s (training over all resumptions plus the final evaluation,
    seconds), device, sizes and provenance.
    """
    import torch

    from neurocircuit.learning import ClassificationTask, train
    from neurocircuit.runtime import seed_everything

    logger = logger or logging.getLogger(__name__)
    settings = dict(settings)
    if checkpoint_path is None:
        checkpoint_path = Path(metrics_path).with_name("checkpoint.pt")
    checkpoint_path = Path(checkpoint_path)
    seed_everything(seed)
    started = time.perf_counter()
    data = load_classification_data(
        dataset,
        files,
        settings,
        seed=seed,
        validation_fraction=validation_fraction,
        split_seed=split_seed,
        digits_test_fraction=digits_test_fraction,
        verify_checksums=verify_checksums,
    )
    logger.info(
        "%s: %d train / %d validation / %d test samples, %d inputs, T = %d, encoding %s",
        dataset,
        data.sizes["train"],
        data.sizes["val"],
        data.sizes["test"],
        data.n_inputs,
        settings["n_steps"],
        settings["encoding"] if dataset != "shd" else "SHD bins",
    )
    model = build_classifier(settings, data.n_inputs, data.n_classes, seed)
    cfg = _train_config(settings, seed, device, progress)
    fingerprint = _fingerprint(
        dataset,
        settings,
        seed,
        {"validation_fraction": validation_fraction, "split_seed": split_seed,
         "digits_test_fraction": digits_test_fraction},
    )  # fmt: skip
    _prepare_checkpoint(checkpoint_path, fingerprint, logger)
    task = ClassificationTask()
    load_time = time.perf_counter() - started
    result = train(
        model, task, data.train, data.val, cfg, checkpoint_path=checkpoint_path, logger=logger
    )
    evaluation_start = time.perf_counter()
    test = task.evaluate(model, data.test)
    train_eval = task.evaluate(model, data.train_eval)
    evaluation_time = time.perf_counter() - evaluation_start
    train_time = float(sum(row.get("epoch_time_s", 0.0) for row in result.history))
    best_row = next(
        (row for row in result.history if row["epoch"] == result.best_epoch), result.history[-1]
    )
    metrics = {
        "dataset": dataset,
        "model": model_name,
        "seed": int(seed),
        "test_accuracy": float(test["accuracy"]),
        "test_loss": float(test["loss"]),
        "val_accuracy": float(best_row.get("val_accuracy", result.best_score)),
        "train_accuracy": float(train_eval["accuracy"]),
        "epochs": int(result.epochs_run),
        "best_epoch": result.best_epoch,
        "stopped_early": bool(result.stopped_early),
        "stop_reason": result.stop_reason,
        "wall_time_s": round(train_time + evaluation_time + load_time, 3),
        "train_time_s": round(train_time, 3),
        "device": result.device,
        "torch_threads": torch.get_num_threads(),
        "n_train": data.sizes["train"],
        "n_val": data.sizes["val"],
        "n_test": data.sizes["test"],
        "n_parameters": int(sum(p.numel() for p in model.parameters())),
        "settings": settings,
        "config_hash": config_hash({**fingerprint, "settings": settings}),
        "versions": package_versions(),
    }
    if not math.isfinite(metrics["val_accuracy"]):
        metrics["val_accuracy"] = None
    _write_history(_history_rows(result.history), history_path)
    write_json(metrics, metrics_path)
    logger.info(
        "%s: test accuracy %.4f (validation %.4f at epoch %s, train %.4f), %.0f s on %s",
        dataset,
        metrics["test_accuracy"],
        metrics["val_accuracy"] or float("nan"),
        result.best_epoch,
        metrics["train_accuracy"],
        metrics["wall_time_s"],
        result.device,
    )
    return metrics


def _write_history(rows: list[dict], path: str | Path) -> None:
    import csv

    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)


# ------------------------------------------------------------------------------- summary


def summarize_classification(
    metrics_paths: Sequence[str | Path],
    summary_path: str | Path,
    *,
    references: Mapping[str, list[dict]] = REFERENCES,
):
    """Mean ± sd over seeds of every (data set, model), beside the published references.

    Writes ``summary_path`` (CSV, one row per data set and model, columns
    :data:`SUMMARY_COLUMNS`; accuracies as fractions) and returns it as a DataFrame. The
    reference columns hold the first published number for the data set (the same network
    where one exists) and ``reference_alt_*`` a second one.
    """
    import numpy as np
    import pandas as pd

    if not metrics_paths:
        raise ValueError("summarize_classification: no metrics files given")
    records = []
    for path in metrics_paths:
        path = Path(path)
        try:
            metrics = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: metrics file not found") from None
        except ValueError as error:
            raise ValueError(f"{path}: not a valid metrics JSON file ({error})") from None
        missing = [k for k in ("test_accuracy", "val_accuracy", "epochs") if k not in metrics]
        if missing:
            raise ValueError(f"{path}: metrics file lacks {', '.join(missing)}")
        parts = path.parts
        dataset = metrics.get("dataset") or parts[-4]
        model = metrics.get("model") or parts[-3]
        records.append(
            {
                "dataset": dataset,
                "model": model,
                "seed": metrics.get("seed"),
                "test_accuracy": metrics["test_accuracy"],
                "val_accuracy": metrics["val_accuracy"],
                "train_accuracy": metrics.get("train_accuracy"),
                "epochs": metrics["epochs"],
                "wall_time_s": metrics.get("wall_time_s"),
                "device": metrics.get("device"),
            }
        )
    runs = pd.DataFrame.from_records(records)
    rows = []
    for (dataset, model), group in runs.groupby(["dataset", "model"], sort=False):
        test = group["test_accuracy"].astype(float)
        refs = list(references.get(dataset, []))
        first = refs[0] if refs else {}
        second = refs[1] if len(refs) > 1 else {}
        reference = first.get("accuracy", np.nan)
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "n_seeds": int(len(group)),
                "test_accuracy_mean": test.mean(),
                "test_accuracy_sd": test.std(ddof=1) if len(group) > 1 else 0.0,
                "test_accuracy_min": test.min(),
                "test_accuracy_max": test.max(),
                "val_accuracy_mean": pd.to_numeric(group["val_accuracy"]).mean(),
                "val_accuracy_sd": (
                    pd.to_numeric(group["val_accuracy"]).std(ddof=1) if len(group) > 1 else 0.0
                ),
                "train_accuracy_mean": pd.to_numeric(group["train_accuracy"]).mean(),
                "epochs_mean": pd.to_numeric(group["epochs"]).mean(),
                "wall_time_s_mean": pd.to_numeric(group["wall_time_s"]).mean(),
                "device": ",".join(sorted({str(d) for d in group["device"].dropna()})),
                "reference_accuracy": reference,
                "reference_source": first.get("source", ""),
                "reference_alt_accuracy": second.get("accuracy", np.nan),
                "reference_alt_source": second.get("source", ""),
                "delta_vs_reference": test.mean() - reference,
            }
        )
    summary = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    order = {name: i for i, name in enumerate(DATASET_NAMES)}
    summary = summary.sort_values(
        ["dataset", "model"], key=lambda col: col.map(order) if col.name == "dataset" else col
    ).reset_index(drop=True)
    with atomic_path(summary_path) as tmp:
        summary.to_csv(tmp, index=False, float_format="%.10g")
    return summary
