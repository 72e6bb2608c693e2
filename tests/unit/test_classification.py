"""Classification stage: settings layering, data splits, training on digits (far above chance),
resume from a checkpoint (and not from another run's), and the summary table with the published
references."""

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
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
    settings = resolve_run_settings(section(model_settings={"lif": {}}), "digits", "lif")
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


def test_settings_are_layered_defaults_dataset_model_model_dataset():
    classification = section(
        defaults={"lr": 1e-3, "n_hidden": 10},
        dataset_settings={"mnist": {"n_hidden": 100, "epochs": 5}},
        model_settings={
            "big": {"n_hidden": 500, "lr": 2e-3, "dataset_settings": {"mnist": {"lr": 3e-3}}},
        },
    )
    mnist = resolve_run_settings(classification, "mnist", "big")
    assert (mnist["n_hidden"], mnist["lr"], mnist["epochs"]) == (500, 3e-3, 5)
    digits = resolve_run_settings(classification, "digits", "big")
    assert (digits["n_hidden"], digits["lr"], digits["epochs"]) == (500, 2e-3, 30)
    assert digits["encoding"] == "latency" and digits["n_steps"] == 100  # schema defaults
    assert "dataset_settings" not in digits


def test_old_model_definitions_are_read_with_a_warning(caplog):
    old = {"big": {"all": {"n_hidden": 500, "lr": 2e-3}, "mnist": {"lr": 3e-3}}}
    with caplog.at_level("WARNING"):
        classification = section(model_definitions=old)
    assert "model_definitions" in caplog.text and "deprecated" in caplog.text
    assert classification["model_settings"]["big"] == {
        "n_hidden": 500,
        "lr": 2e-3,
        "dataset_settings": {"mnist": {"lr": 3e-3}},
    }
    assert resolve_run_settings({**classification, "model_settings": {}, "model_definitions": old},
                                "mnist", "big")["lr"] == 3e-3  # fmt: skip


def test_undefined_model_is_one_clear_error():
    classification = section(models=["lif", "nope"], model_settings={"lif": {}})
    with pytest.raises(ValueError, match="lists nope, not defined .* \\(defined: lif\\)"):
        check_classification_config(classification)
    with pytest.raises(ValueError, match="model 'nope' is not defined"):
        resolve_run_settings(classification, "mnist", "nope")


@pytest.mark.parametrize(
    ("bad", "key"),
    [
        ({"dataset_settings": {"mnist": {"n_hiden": 5}}}, "classification.dataset_settings.mnist"),
        ({"defaults": {"encoding": "morse"}}, "classification.defaults.encoding"),
        ({"model_settings": {"x": {"n_hiden": 5}}}, "classification.model_settings.x"),
        (
            {"model_settings": {"x": {"dataset_settings": {"mnist": {"lr": -1}}}}},
            "classification.model_settings.x.dataset_settings.mnist.lr",
        ),
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


TEST_TAG = 1 << 9  # bit 9 marks a sample of the test file


def identifiable_images(n: int, tag: int = 0) -> np.ndarray:
    """(n, 28, 28) images whose first ten pixels spell ``index | tag`` in binary (255 = 1), so
    that every sample can be read back from the spikes the model is fed."""
    codes = np.arange(n) | tag
    bits = (codes[:, None] >> np.arange(10)[None, :]) & 1
    images = np.zeros((n, 28 * 28), dtype=np.uint8)
    images[:, :10] = 255 * bits
    return images.reshape(n, 28, 28)


def indices_fed(batches) -> tuple[list[int], list[int]]:
    """Sample codes (read from which of the ten code channels ever spike) and labels of every
    sample in one pass over ``batches``, in order."""
    codes, labels = [], []
    for x, y in batches(0):
        bits = (x[:, :, :10].sum(dim=0) > 0).long()
        codes += (bits * (2 ** torch.arange(10))).sum(dim=1).tolist()
        labels += y.tolist()
    return codes, labels


def test_image_splits_are_disjoint_by_index_and_cover_the_data(tmp_path):
    """Every training-file sample lands in exactly one of train / validation (disjoint, union
    the whole file, the same validation set with or without ``max_train_samples``), the test
    split is exactly the test file, and every label travels with its own sample."""
    files = {}
    for role, n, tag in (("train", 200, 0), ("test", 50, TEST_TAG)):
        files[f"{role}_images"] = write_idx(
            identifiable_images(n, tag), tmp_path / f"{role}-images-idx3-ubyte.gz"
        )
        files[f"{role}_labels"] = write_idx(
            (np.arange(n) % 10).astype(np.uint8), tmp_path / f"{role}-labels-idx1-ubyte.gz"
        )
    settings = digits_settings(max_train_samples=None, batch_size=64, eval_batch_size=100)
    data = load_classification_data(
        "mnist", files, settings, seed=0, validation_fraction=0.2, verify_checksums=False
    )
    assert (data.n_inputs, data.n_classes) == (784, 10)
    x, y = next(iter(data.train))
    assert x.shape == (10, 64, 784) and y.shape == (64,)
    fed = {name: indices_fed(getattr(data, name)) for name in ("train", "val", "test")}
    for name, (codes, labels) in fed.items():
        assert len(set(codes)) == len(codes), f"{name}: a sample appears twice"
        expected = [(code & ~TEST_TAG) % 10 for code in codes]
        assert labels == expected, f"{name}: labels and samples disagree"
    train, val, test = (set(fed[name][0]) for name in ("train", "val", "test"))
    assert not train & val
    assert train | val == set(range(200))
    assert test == {i | TEST_TAG for i in range(50)}
    assert np.bincount([i % 10 for i in val]).tolist() == [4] * 10  # stratified 20 %
    assert data.sizes == {"train": 160, "val": 40, "test": 50}
    assert sorted(indices_fed(data.train_eval)[0]) == sorted(train)
    # a subset of the training split: the validation set stays as it was, still disjoint
    subset = load_classification_data(
        "mnist", files, {**settings, "max_train_samples": 60}, seed=3,
        validation_fraction=0.2, verify_checksums=False,
    )  # fmt: skip
    sub_train, sub_val = (set(indices_fed(getattr(subset, n))[0]) for n in ("train", "val"))
    assert sub_val == val and len(sub_train) == 60 and sub_train < train


def synthetic_identifiable_shd(path: Path, n: int, offset: int) -> Path:
    """SHD-layout file whose sample k has one event, on unit ``offset + k`` at 0.1 s, and
    label k % 20: the unit that fires names the sample."""
    from helpers.shd import write_shd

    times = [np.array([0.1]) for _ in range(n)]
    units = [np.array([offset + k]) for k in range(n)]
    return write_shd(path, times, units, np.arange(n) % 20)


def test_shd_splits_are_disjoint_by_index_and_cover_the_data(tmp_path):
    files = {
        "train": synthetic_identifiable_shd(tmp_path / "shd_train.h5", 400, 0),
        "test": synthetic_identifiable_shd(tmp_path / "shd_test.h5", 100, 500),
    }
    settings = digits_settings(n_steps=20, max_train_samples=None, eval_batch_size=64)
    data = load_classification_data("shd", files, settings, seed=0, validation_fraction=0.1)
    fed = {}
    for name in ("train", "val", "test"):
        units, labels = [], []
        for x, y in getattr(data, name)(0):
            assert bool((x.sum(dim=(0, 2)) == 1).all())  # one event per sample
            units += x.sum(dim=0).argmax(dim=1).tolist()
            labels += y.tolist()
        assert len(set(units)) == len(units), f"{name}: a sample appears twice"
        offset = 500 if name == "test" else 0
        assert labels == [(u - offset) % 20 for u in units], f"{name}: labels and samples disagree"
        fed[name] = set(units)
    assert not fed["train"] & fed["val"]
    assert fed["train"] | fed["val"] == set(range(400))
    assert fed["test"] == set(range(500, 600))
    assert np.bincount([u % 20 for u in fed["val"]]).tolist() == [2] * 20


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
