"""The classification part of the workflow: a real run on digits (tests/config.test.yaml), and
dry runs that show where the data files come from (data_dir, download, or one clear error)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TEST_CONFIG, files_under, leftover_temporaries, read_json, run_snakemake
from helpers.idx import write_idx

RUN_FILES = ("metrics.json", "history.csv", "checkpoint.pt")


@pytest.mark.slow
def test_classification_runs_on_digits_end_to_end(workflow_dir):
    run_snakemake(
        workflow_dir, "classification", "--cores", "2", "--configfile", TEST_CONFIG, check=True
    )
    results = workflow_dir / "results" / "classification"
    summary = pd.read_csv(results / "summary.csv")
    assert sorted(summary["model"]) == ["lif", "lif_dale"]
    assert set(summary["dataset"]) == {"digits"}
    for model in ("lif", "lif_dale"):
        folder = results / "digits" / model / "seed0"
        for name in RUN_FILES:
            assert (folder / name).is_file(), f"{folder / name} missing"
        metrics = read_json(folder / "metrics.json")
        # 4 short epochs, chance is 0.1; Dale's sign-constrained readout learns more slowly
        assert metrics["test_accuracy"] >= (0.3 if model == "lif_dale" else 0.6), metrics
        assert metrics["epochs"] == 4 and metrics["device"] == "cpu"
        assert metrics["settings"]["dale"] is (model == "lif_dale")
        history = pd.read_csv(folder / "history.csv")
        assert history["epoch"].tolist() == [1, 2, 3, 4]
        log = workflow_dir / "results/logs/classification_train/digits" / model / "seed0.log"
        text = log.read_text()
        assert "epoch 4/4" in text and "test accuracy" in text
        assert "epochs:" in text  # the tqdm progress bar goes to the rule's log
        assert (
            workflow_dir / "results/benchmarks/classification_train/digits" / model / "seed0.tsv"
        ).is_file()
        row = summary.set_index("model").loc[model]
        assert row["test_accuracy_mean"] == pytest.approx(metrics["test_accuracy"])
        assert row["n_seeds"] == 1
    assert leftover_temporaries(workflow_dir / "results") == []
    again = run_snakemake(
        workflow_dir, "classification", "-n", "--configfile", TEST_CONFIG, check=True
    )
    assert "Nothing to be done" in again.stdout + again.stderr


def write_overlay(folder: Path, data_dir: Path | None, download: bool = True) -> Path:
    overlay = folder / "mnist_only.yaml"
    lines = [
        f"data_dir: {data_dir if data_dir is not None else 'null'}",
        "classification:",
        "  datasets: [mnist]",
        "  models: [lif]",
        "  seeds: [0]",
        f"  download: {'true' if download else 'false'}",
    ]
    overlay.write_text("\n".join(lines) + "\n")
    return overlay


def write_mnist(folder: Path) -> None:
    folder.mkdir(parents=True)
    for prefix, n in (("train", 20), ("t10k", 10)):
        write_idx(np.zeros((n, 28, 28), np.uint8), folder / f"{prefix}-images-idx3-ubyte.gz")
        write_idx(np.zeros(n, np.uint8), folder / f"{prefix}-labels-idx1-ubyte")


def dry_run(workflow_dir: Path, overlay: Path):
    return run_snakemake(
        workflow_dir, "classification", "-n", "--configfile", TEST_CONFIG, str(overlay)
    )


def test_files_in_data_dir_are_used_without_download(workflow_dir, tmp_path):
    write_mnist(tmp_path / "data" / "mnist")
    result = dry_run(workflow_dir, write_overlay(tmp_path, tmp_path / "data"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "classification_train" in result.stdout
    assert "classification_download_data" not in result.stdout


def test_missing_files_are_downloaded_into_resources(workflow_dir, tmp_path):
    result = dry_run(workflow_dir, write_overlay(tmp_path, tmp_path / "empty"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("rule classification_download_data") == 4
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert f"resources/mnist/{name}" in result.stdout


def test_missing_files_without_download_stop_with_one_line(workflow_dir, tmp_path):
    result = dry_run(workflow_dir, write_overlay(tmp_path, tmp_path / "empty", download=False))
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "Config error" in line]
    assert len(lines) == 1, result.stderr[-3000:]
    assert "mnist: files missing" in lines[0]
    assert "train-images-idx3-ubyte.gz" in lines[0] and str(tmp_path / "empty") in lines[0]
    assert files_under(workflow_dir / "results") == []


def test_real_data_dir_is_found(workflow_dir, tmp_path, shared_data):
    result = dry_run(workflow_dir, write_overlay(tmp_path, shared_data))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "classification_download_data" not in result.stdout
    assert str(shared_data / "mnist" / "train-images-idx3-ubyte.gz") in result.stdout
