"""One classification run: data, classifier, training (resumable), one test evaluation, files.

``train_classifier`` writes ``history.csv`` (through ``learning.write_history_csv``) and, last,
``metrics.json``, whose presence means the run finished. The training checkpoint
(``checkpoint.pt`` beside the metrics) is resumed only by the same run: ``train`` compares the
hash of the run's fingerprint (data set, seed, splits, settings without the epochs) and its
``TrainConfig``; a checkpoint of other settings is trained over with a warning.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from neurocircuit.classification.data import ClassificationData, load_classification_data
from neurocircuit.classification.settings import MODEL_KEYS, TRAIN_KEYS
from neurocircuit.runtime import config_hash, package_versions, write_json


def build_classifier(settings: Mapping, n_inputs: int, n_classes: int, seed: int):
    """The ``SpikingClassifier`` of one run's settings."""
    from neurocircuit.models.classifier import SpikingClassifier

    kwargs = {key: settings[key] for key in MODEL_KEYS if key in settings}
    return SpikingClassifier(n_inputs, settings["n_hidden"], n_classes, seed=seed, **kwargs)


def _train_config(settings: Mapping, seed: int, device: str, progress: bool):
    from neurocircuit.learning import TrainConfig

    kwargs = {key: settings[key] for key in TRAIN_KEYS if key in settings}
    return TrainConfig(seed=seed, device=device, progress=progress, **kwargs)


def _fingerprint(dataset: str, settings: Mapping, seed: int, extra: Mapping) -> dict:
    """What defines the run for its checkpoint: everything but the settings a resumed run may
    change (``RESUME_IGNORED_FIELDS``: more epochs continue training)."""
    from neurocircuit.learning.config import RESUME_IGNORED_FIELDS

    kept = {k: v for k, v in settings.items() if k not in RESUME_IGNORED_FIELDS}
    return {"dataset": dataset, "seed": int(seed), "settings": kept, **dict(extra)}


def _history_rows(history: Sequence[Mapping]) -> list[dict]:
    """History rows with the accuracy columns named for the figures (fractions)."""
    rows = []
    for row in history:
        out = dict(row)
        out["train_accuracy"] = row.get("train_score")
        out["val_accuracy"] = row.get("val_accuracy", row.get("val_score"))
        rows.append(out)
    return rows


def _log_data(logger: logging.Logger, dataset: str, data: ClassificationData, settings) -> None:
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


def _run_metrics(model, task, data: ClassificationData, result, load_time: float) -> dict:
    """Test and training-set accuracy of the final weights, validation accuracy of the best
    epoch, times (s) and sizes: the measured part of ``metrics.json``."""
    import torch

    evaluation_start = time.perf_counter()
    test = task.evaluate(model, data.test)
    train_eval = task.evaluate(model, data.train_eval)
    evaluation_time = time.perf_counter() - evaluation_start
    train_time = float(sum(row.get("epoch_time_s", 0.0) for row in result.history))
    best_row = next(
        (row for row in result.history if row["epoch"] == result.best_epoch), result.history[-1]
    )
    val_accuracy = float(best_row.get("val_accuracy", result.best_score))
    return {
        "test_accuracy": float(test["accuracy"]),
        "test_loss": float(test["loss"]),
        "val_accuracy": val_accuracy if math.isfinite(val_accuracy) else None,
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
    }


def _log_result(logger: logging.Logger, metrics: Mapping) -> None:
    logger.info(
        "%s: test accuracy %.4f (validation %.4f at epoch %s, train %.4f), %.0f s on %s",
        metrics["dataset"],
        metrics["test_accuracy"],
        metrics["val_accuracy"] or float("nan"),
        metrics["best_epoch"],
        metrics["train_accuracy"],
        metrics["wall_time_s"],
        metrics["device"],
    )


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
            ``metrics_path``); one of the same run is resumed from (more epochs allowed),
            one of other settings is trained over with a warning.
        device: "auto", "cpu" or "cuda".
        validation_fraction, split_seed: the held-out validation split of the training set.
        digits_test_fraction: digits' test split (the data set has none of its own).
        verify_checksums: check idx files against the published content MD5s.
        model_name: the model's name (for the metrics file).

    Returns the metrics dict written to ``metrics_path``: test/val/train accuracy (fractions),
    epochs, best_epoch, wall_time_s (training over all resumptions plus the final evaluation,
    seconds), device, sizes and provenance.
    """
    from neurocircuit.learning import ClassificationTask, train, write_history_csv
    from neurocircuit.runtime import seed_everything

    logger = logger or logging.getLogger(__name__)
    settings = dict(settings)
    if checkpoint_path is None:
        checkpoint_path = Path(metrics_path).with_name("checkpoint.pt")
    seed_everything(seed)
    started = time.perf_counter()
    splits = {"validation_fraction": validation_fraction, "split_seed": split_seed,
              "digits_test_fraction": digits_test_fraction}  # fmt: skip
    data = load_classification_data(dataset, files, settings, seed=seed,
                                    verify_checksums=verify_checksums, **splits)  # fmt: skip
    _log_data(logger, dataset, data, settings)
    model = build_classifier(settings, data.n_inputs, data.n_classes, seed)
    cfg = _train_config(settings, seed, device, progress)
    fingerprint = _fingerprint(dataset, settings, seed, splits)
    task = ClassificationTask()
    load_time = time.perf_counter() - started
    result = train(model, task, data.train, data.val, cfg, checkpoint_path=checkpoint_path,
                   fingerprint=fingerprint, logger=logger)  # fmt: skip
    metrics = {"dataset": dataset, "model": model_name, "seed": int(seed),
               **_run_metrics(model, task, data, result, load_time), "settings": settings,
               "config_hash": config_hash({**fingerprint, "settings": settings}),
               "versions": package_versions()}  # fmt: skip
    write_history_csv(_history_rows(result.history), history_path)
    write_json(metrics, metrics_path)
    _log_result(logger, metrics)
    return metrics
