"""Classification benchmarks: train one spiking classifier per (data set, model, seed), score it
once on the test set, and summarise the runs next to the published reference numbers.

The split is the study's protocol: a stratified validation split of the training set (drawn
with ``split_seed``, the same for every run) picks the epoch (early stopping, best weights);
the test set is scored once, at the end, with those weights.

- ``settings``: one run's settings from the config (``resolve_run_settings``) and the
  cross-checks of the config section (``check_classification_config``);
- ``data``: the three splits as seeded spike batches (``load_classification_data``);
- ``training``: one run, from data to ``metrics.json`` (``train_classifier``);
- ``summary``: mean ± sd over seeds beside the references (``summarize_classification``).

Importing this package does not import torch (the workflow reads ``resolve_run_settings`` and
``check_classification_config`` at parse time); training imports it on first use.
"""

from neurocircuit.classification.data import ClassificationData, load_classification_data
from neurocircuit.classification.settings import (
    DATASET_NAMES,
    MODEL_KEYS,
    TRAIN_KEYS,
    check_classification_config,
    resolve_run_settings,
)
from neurocircuit.classification.summary import (
    REFERENCES,
    SUMMARY_COLUMNS,
    summarize_classification,
)
from neurocircuit.classification.training import build_classifier, train_classifier

__all__ = [
    "DATASET_NAMES",
    "MODEL_KEYS",
    "REFERENCES",
    "SUMMARY_COLUMNS",
    "TRAIN_KEYS",
    "ClassificationData",
    "build_classifier",
    "check_classification_config",
    "load_classification_data",
    "resolve_run_settings",
    "summarize_classification",
    "train_classifier",
]
