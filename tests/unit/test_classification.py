"""Classification stage: settings layering, data splits, training on digits (far above chance),
resume from a checkpoint (and not from another run's), and the summary table with the published
references."""

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers.idx import write_idx
from neurocircuit.classification import (
    REFERENCES,
    SUMMARY_COLUMNS,
    check_classification_config,
    load_classification_data,
    resolve_run_settings,
    summarize_classification,
    train_classifier,
)
from neurocircuit.config import ConfigError, validate_config

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def section(**classification):
    return validate_config({"classification": classification}, SCHEMA)["classification"]


def digits_settings(**overrides):
    """Small, fast digits settings (T = 10, 48 hidden neurons, 300 training samples)."""
    settings = resolve_run_settings(
        section(model_definitions={"lif": {"all": {}}}), "digits", "lif"
    )
    settings.update(
        n_steps=10,
        n_hidden=48,
        input_scale=1.0,
        lr=1e-2,
        batch_size=50,
        epochs=3,
        max_train_samples=300,
    )
    settings.update(overrides)
    return settings


def run(tmp_path, name, settings, seed=0):
    folder = tmp_path / name
    metrics = train_classifier(
        "digits",
        {},
        settings=settings,
        seed=seed,
        metrics_path=folder / "metrics.json",
        history_path=folder / "history.csv",
        progress=False,
        model_name="lif",
    )
    return metrics, folder


# ------------------------------------------------------------------------- settings


def test_settings_are_layered_defaults_dataset_model_all_model_dataset():
    classification = section(
        defaults={"lr": 1e-3, "n_hidden": 10},
        dataset_settings={"mnist": {"n_hidden": 100, "epochs": 5}},
        model_definitions={
            "big": {"all": {"n_hidden": 500, "lr": 2e-3}, "mnist": {"lr": 3e-3}},
        },
    )
    mnist = resolve_run_settings(classification, "mnist", "big")
    assert (mnist["n_hidden"], mnist["lr"], mnist["epochs"]) == (500, 3e-3, 5)
    digits = resolve_run_settings(classification, "digits", "big")
    assert (digits["n_hidden"], digits["lr"], digits["epochs"]) == (500, 2e-3, 30)
    assert digits["encoding"] == "latency" and digits["n_steps"] == 100  # schema defaults


def test_undefined_model_is_one_clear_error():
    classification = section(models=["lif", "nope"], model_definitions={"lif": {"all": {}}})
    with pytest.raises(ValueError, match="lists nope, not defined .* \\(defined: lif\\)"):
        check_classification_config(classification)
    with pytest.raises(ValueError, match="model 'nope' is not defined"):
        resolve_run_settings(classification, "mnist", "nope")


@pytest.mark.parametrize(
    ("bad", "key"),
    [
        ({"dataset_settings": {"mnist": {"n_hiden": 5}}}, "classification.dataset_settings.mnist"),
        ({"defaults": {"encoding": "morse"}}, "classification.defaults.encoding"),
        ({"model_definitions": {"x": {"al": {}}}}, "classification.model_definitions.x"),
        ({"datasets": ["cifar"]}, "classification.datasets.0"),
        ({"seeds": [-1]}, "classification.seeds.0"),
    ],
)
def test_bad_classification_config_names_the_key(bad, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate_config({"classification": bad}, SCHEMA)


def test_shipped_configs_define_every_listed_model():
    for name in ("config.yaml", "config/demo.yaml", "tests/config.test.yaml", "config/cpu.yaml"):
        with open(ROOT / name) as fh:
            raw = yaml.safe_load(fh) or {}
        merged = yaml.safe_load((ROOT / "config.yaml").read_text())
        merged["classification"].update(raw.get("classification", {}))
        classification = validate_config(merged, SCHEMA)["classification"]
        check_classification_config(classification)
        for dataset in classification["datasets"]:
            for model in classification["models"]:
                resolve_run_settings(classification, dataset, model)


# ----------------------------------------------------------------------------- data


def test_image_splits_keep_the_test_set_apart(tmp_path):
    rng = np.random.default_rng(0)
    files = {}
    for role, n in (("train", 200), ("test", 50)):
        files[f"{role}_images"] = write_idx(
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            tmp_path / f"{role}-images-idx3-ubyte.gz",
        )
        files[f"{role}_labels"] = write_idx(
            (np.arange(n) % 10).astype(np.uint8), tmp_path / f"{role}-labels-idx1-ubyte.gz"
        )
    settings = digits_settings(max_train_samples=None, batch_size=64, eval_batch_size=100)
    data = load_classification_data(
        "mnist", files, settings, seed=0, validation_fraction=0.2, verify_checksums=False
    )
    assert data.sizes == {"train": 160, "val": 40, "test": 50}
    assert (data.n_inputs, data.n_classes) == (784, 10)
    x, y = next(iter(data.train))
    assert x.shape == (10, 64, 784) and y.shape == (64,)
    assert torch_sum(data.test) == 50


def torch_sum(batches):
    return sum(int(y.numel()) for _, y in batches)


# ------------------------------------------------------------------------- training


def test_digits_training_beats_chance_by_far_and_writes_its_results(tmp_path):
    metrics, folder = run(tmp_path, "run", digits_settings())
    assert metrics["test_accuracy"] >= 0.6  # chance is 0.1
    assert metrics["val_accuracy"] >= 0.6
    assert metrics["n_test"] == 359  # a stratified 20 % of 1,797
    assert 295 <= metrics["n_train"] <= 300  # a stratified subset of 300 (rounded per class)
    assert metrics["epochs"] == 3 and metrics["device"] == "cpu"
    written = json.loads((folder / "metrics.json").read_text())
    for key in ("test_accuracy", "val_accuracy", "train_accuracy", "epochs", "wall_time_s"):
        assert key in written
    history = pd.read_csv(folder / "history.csv")
    assert history["epoch"].tolist() == [1, 2, 3]
    assert {"train_accuracy", "val_accuracy", "train_loss", "lr"} <= set(history.columns)
    assert (folder / "checkpoint.pt").is_file()
    best = history.loc[history["val_accuracy"].idxmax()]
    assert metrics["val_accuracy"] == pytest.approx(best["val_accuracy"])
    assert metrics["best_epoch"] == best["epoch"]


def test_more_epochs_resume_from_the_checkpoint_and_match_an_uninterrupted_run(tmp_path):
    straight, _ = run(tmp_path, "straight", digits_settings(epochs=3))
    run(tmp_path, "resumed", digits_settings(epochs=2))
    resumed, folder = run(tmp_path, "resumed", digits_settings(epochs=3))
    assert pd.read_csv(folder / "history.csv")["epoch"].tolist() == [1, 2, 3]
    for key in ("test_accuracy", "val_accuracy", "train_accuracy", "best_epoch"):
        assert resumed[key] == straight[key]


def test_checkpoint_of_other_settings_is_trained_over_with_a_warning(tmp_path, caplog):
    run(tmp_path, "run", digits_settings(epochs=2, n_hidden=32))
    with caplog.at_level(logging.WARNING):
        metrics, folder = run(tmp_path, "run", digits_settings(epochs=1, n_hidden=16))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "checkpoint.pt" in warnings[0] and "settings.n_hidden: 32 -> 16" in warnings[0]
    assert metrics["epochs"] == 1
    assert pd.read_csv(folder / "history.csv")["epoch"].tolist() == [1]
    fresh, _ = run(tmp_path, "fresh", digits_settings(epochs=1, n_hidden=16))
    for key in ("test_accuracy", "val_accuracy", "train_accuracy", "test_loss"):
        assert metrics[key] == fresh[key]
    assert sorted(p.name for p in folder.iterdir()) == [
        "checkpoint.pt",
        "history.csv",
        "metrics.json",
    ]  # one checkpoint, no sidecar files


# -------------------------------------------------------------------------- summary


def write_metrics(folder: Path, dataset, model, seed, test, val):
    path = folder / dataset / model / f"seed{seed}" / "metrics.json"
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps(
            dict(
                dataset=dataset,
                model=model,
                seed=seed,
                test_accuracy=test,
                val_accuracy=val,
                train_accuracy=0.99,
                epochs=10,
                wall_time_s=5.0,
                device="cpu",
            )  # fmt: skip
        )
    )
    return path


def test_summary_mean_sd_and_references(tmp_path):
    paths = [
        write_metrics(tmp_path, "shd", "lif", 0, 0.70, 0.80),
        write_metrics(tmp_path, "shd", "lif", 1, 0.74, 0.82),
        write_metrics(tmp_path, "mnist", "lif", 0, 0.98, 0.985),
        write_metrics(tmp_path, "digits", "lif", 0, 0.95, 0.96),
    ]
    summary = summarize_classification(paths, tmp_path / "summary.csv")
    table = pd.read_csv(tmp_path / "summary.csv")
    assert list(table.columns) == list(SUMMARY_COLUMNS)
    assert table["dataset"].tolist() == ["digits", "mnist", "shd"]
    shd = table.set_index("dataset").loc["shd"]
    assert shd["n_seeds"] == 2
    assert shd["test_accuracy_mean"] == pytest.approx(0.72)
    assert shd["test_accuracy_sd"] == pytest.approx(np.std([0.70, 0.74], ddof=1))
    assert shd["val_accuracy_mean"] == pytest.approx(0.81)
    assert shd["reference_accuracy"] == pytest.approx(0.692)
    assert "SpyTorch" in shd["reference_source"]
    assert shd["reference_alt_accuracy"] == pytest.approx(0.71)
    assert "Cramer" in shd["reference_alt_source"]
    assert shd["delta_vs_reference"] == pytest.approx(0.72 - 0.692)
    mnist = table.set_index("dataset").loc["mnist"]
    assert mnist["reference_accuracy"] == pytest.approx(0.965) and mnist["test_accuracy_sd"] == 0
    assert np.isnan(table.set_index("dataset").loc["digits", "reference_accuracy"])
    assert len(summary) == 3
    assert REFERENCES["fashion_mnist"][0]["accuracy"] == pytest.approx(0.863)


def test_summary_of_a_missing_or_broken_metrics_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="seed9/metrics.json: metrics file not found"):
        summarize_classification([tmp_path / "x" / "m" / "seed9" / "metrics.json"], tmp_path / "s")
    broken = tmp_path / "mnist" / "lif" / "seed0" / "metrics.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="seed0/metrics.json: not a valid metrics JSON"):
        summarize_classification([broken], tmp_path / "s.csv")
    assert not (tmp_path / "s.csv").exists()


def synthetic_shd(path: Path, n: int, seed: int) -> Path:
    """An SHD-layout file whose class k fires units 35k..35k+34 at random times in 0..0.9 s."""
    from helpers.shd import write_shd

    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 20
    times = [np.sort(rng.uniform(0, 0.9, 40)) for _ in labels]
    units = [35 * k + rng.integers(0, 35, 40) for k in labels]
    return write_shd(path, times, units, labels, speakers=labels % 3)


def test_shd_files_train_a_recurrent_network_far_above_chance(tmp_path):
    files = {
        "train": synthetic_shd(tmp_path / "shd_train.h5", 400, 0),
        "test": synthetic_shd(tmp_path / "shd_test.h5", 100, 1),
    }
    settings = digits_settings(
        n_steps=20, n_hidden=32, recurrent=True, input_scale=2.0, max_train_samples=None
    )
    metrics = train_classifier(
        "shd",
        files,
        settings=settings,
        seed=0,
        metrics_path=tmp_path / "run" / "metrics.json",
        history_path=tmp_path / "run" / "history.csv",
        progress=False,
    )
    assert (metrics["n_train"], metrics["n_val"], metrics["n_test"]) == (360, 40, 100)
    assert metrics["test_accuracy"] >= 0.5  # chance is 0.05
