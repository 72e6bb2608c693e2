"""The summary table of the classification runs: mean ± sd over seeds of every (data set,
model), beside published test accuracies of comparable spiking networks."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from neurocircuit.classification.settings import DATASET_NAMES
from neurocircuit.runtime import atomic_path

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


def _read_run(path: str | Path) -> dict:
    """One run's record from its ``metrics.json`` (data set and model from the file, else
    from the path .../{dataset}/{model}/seed{seed}/metrics.json); errors name the file."""
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
    return {
        "dataset": metrics.get("dataset") or path.parts[-4],
        "model": metrics.get("model") or path.parts[-3],
        "seed": metrics.get("seed"),
        "test_accuracy": metrics["test_accuracy"],
        "val_accuracy": metrics["val_accuracy"],
        "train_accuracy": metrics.get("train_accuracy"),
        "epochs": metrics["epochs"],
        "wall_time_s": metrics.get("wall_time_s"),
        "device": metrics.get("device"),
    }


def _summary_row(dataset: str, model: str, group, references: Mapping[str, list[dict]]) -> dict:
    """The row of one (data set, model): statistics over its seeds and the references."""
    import numpy as np
    import pandas as pd

    test = group["test_accuracy"].astype(float)
    val = pd.to_numeric(group["val_accuracy"])
    several = len(group) > 1
    refs = list(references.get(dataset, []))
    first = refs[0] if refs else {}
    second = refs[1] if len(refs) > 1 else {}
    reference = first.get("accuracy", np.nan)
    return {
        "dataset": dataset,
        "model": model,
        "n_seeds": int(len(group)),
        "test_accuracy_mean": test.mean(),
        "test_accuracy_sd": test.std(ddof=1) if several else 0.0,
        "test_accuracy_min": test.min(),
        "test_accuracy_max": test.max(),
        "val_accuracy_mean": val.mean(),
        "val_accuracy_sd": val.std(ddof=1) if several else 0.0,
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
    import pandas as pd

    if not metrics_paths:
        raise ValueError("summarize_classification: no metrics files given")
    runs = pd.DataFrame.from_records([_read_run(path) for path in metrics_paths])
    rows = [
        _summary_row(dataset, model, group, references)
        for (dataset, model), group in runs.groupby(["dataset", "model"], sort=False)
    ]
    summary = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    order = {name: i for i, name in enumerate(DATASET_NAMES)}
    summary = summary.sort_values(
        ["dataset", "model"], key=lambda col: col.map(order) if col.name == "dataset" else col
    ).reset_index(drop=True)
    with atomic_path(summary_path) as tmp:
        summary.to_csv(tmp, index=False, float_format="%.10g")
    return summary
