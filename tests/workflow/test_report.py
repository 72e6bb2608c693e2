"""The figures stage as a user runs it: `snakemake figures` rebuilds only the figures from existing
results, `snakemake --report results/report.html` builds one self-contained HTML page, and a
broken result file stops its figure with one clear line.

The results are small synthetic files in the exact formats the stages write
(tests/helpers/examples.py), laid out for the test config's datasets, models and seeds, so
these tests do not wait for any training. `--allowed-rules` keeps Snakemake to the figure rules:
the upstream inputs (raw data, checkpoints) of those synthetic results do not exist here. The
demo run (`make demo`, then `make report`) covers the same rules on real outputs.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest
import yaml
from conftest import TEST_CONFIG, run_snakemake
from helpers.examples import write_classification_results, write_fit_results
from neurocircuit.config import validate_config


def merged_config(workdir: Path) -> dict:
    """config.yaml with the test config on top (Snakemake's merge), validated and defaulted."""

    def update(base, new):
        for key, value in new.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                update(base[key], value)
            else:
                base[key] = value
        return base

    config = {}
    for name in ("config.yaml", TEST_CONFIG):
        update(config, yaml.safe_load((workdir / name).read_text()) or {})
    return validate_config(config, workdir / "workflow" / "schemas" / "config.schema.yaml")


def runs(config: dict, stage: str) -> tuple[list, list, list]:
    section = config.get(stage) or {}
    return tuple(list(section.get(key) or []) for key in ("datasets", "models", "seeds"))


def figure_rules(workdir: Path) -> list[str]:
    text = (workdir / "workflow" / "rules" / "figures.smk").read_text()
    return re.findall(r"^rule (\w+):", text, flags=re.MULTILINE)


def expected_figures(config: dict) -> list[str]:
    """The figure files (without extension) the config asks for."""
    names = []
    datasets, models, seeds = runs(config, "classification")
    if datasets and models and seeds:
        names += ["classification/accuracy", "classification/learning_curves"]
    datasets, models, seeds = runs(config, "fit")
    if datasets and models and seeds:
        for dataset in datasets:
            names += [f"fit/{dataset}/activity_{model}" for model in models]
            names += [f"fit/{dataset}/{n}" for n in ("pvar_per_neuron", "connectivity")]
            names += [f"fit/{dataset}/convergence"]
            names += [f"ablation/{dataset}/{n}" for n in ("curves", "areas")]
        names += ["fit/forecast"]
    return names


@pytest.fixture
def workdir_with_results(workflow_dir: Path) -> tuple[Path, dict]:
    config = merged_config(workflow_dir)
    results = workflow_dir / "results"
    datasets, models, seeds = runs(config, "classification")
    if datasets and models and seeds:
        write_classification_results(results, datasets=datasets, models=models, seeds=seeds)
    datasets, models, seeds = runs(config, "fit")
    teacher = config["imaging"]["synthetic"]["population"] == "teacher"
    sessions = {s["name"]: s for s in config["imaging"]["sessions"]}
    for dataset in datasets if models and seeds else []:
        made_by_teacher = teacher and sessions.get(dataset, {}).get("source") == "synthetic"
        write_fit_results(
            results, dataset=dataset, models=models, seeds=seeds, teacher=made_by_teacher
        )
    return workflow_dir, config


def snakemake_figures(workdir: Path, *args: str, check: bool = True):
    return run_snakemake(
        workdir,
        "--configfile",
        TEST_CONFIG,
        "--allowed-rules",
        *figure_rules(workdir),
        "--cores",
        "2",
        *args,
        check=check,
        timeout=300,
    )


def test_figures_then_report(workdir_with_results):
    workdir, config = workdir_with_results
    plan = snakemake_figures(workdir, "figures", "-n")
    scheduled = re.findall(r"output: (results/figures/\S+)\.png,", plan.stdout)
    expected = [path.removeprefix("results/figures/") for path in scheduled]
    assert expected, "the test config asks for no figures: nothing would be tested"
    # The figures of every stage the test config runs, and nothing else.
    assert set(expected) <= set(expected_figures(config)), plan.stdout

    snakemake_figures(workdir, "figures")
    for name in expected:
        png = workdir / "results" / "figures" / f"{name}.png"
        pdf = png.with_suffix(".pdf")
        assert png.read_bytes()[:4] == b"\x89PNG", png
        assert pdf.read_bytes()[:5] == b"%PDF-", pdf
        assert matplotlib.image.imread(png)[..., :3].std() > 0.05, f"{png} is blank"
        assert png.stat().st_mode & 0o044 == 0o044, f"{png} is not readable by others"

    # Up to date: nothing to do. A changed result: only the figures that read it are redrawn.
    dry = snakemake_figures(workdir, "figures", "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr
    summary = workdir / "results" / "classification" / "summary.csv"
    if summary.exists():
        # Snakemake (>= 9.18) compares checksums, not only times: change the content.
        table = pd.read_csv(summary)
        table.loc[0, "test_accuracy_mean"] = table.loc[0, "test_accuracy_mean"] * 0.99
        table.to_csv(summary, index=False)
        dry = snakemake_figures(workdir, "figures", "-n", "--quiet", "rules")
        jobs = re.findall(r"^(\w+)\s+1$", dry.stdout, flags=re.MULTILINE)
        assert "plot_classification_accuracy" in jobs
        assert set(jobs) <= {"plot_classification_accuracy", "figures", "total"}, dry.stdout

    report = workdir / "results" / "report.html"
    run_snakemake(
        workdir,
        "--configfile",
        TEST_CONFIG,
        "--allowed-rules",
        *figure_rules(workdir),
        "--report",
        str(report),
        "figures",
        check=True,
        timeout=300,
    )
    html = report.read_text()
    assert "neurocircuit" in html and "Configuration used for this run" in html
    for name in expected:
        filename = Path(name).name + ".png"
        assert f"filename={filename};base64," in html, f"{filename} is not embedded"
    assert "published reference accuracies" in html or "classification/accuracy" not in expected
    # Self-contained: no scripts, styles or images fetched from elsewhere.
    assert not re.search(r"<(script|img|link)[^>]+(src|href)=\"https?://", html)


def test_broken_result_stops_its_figure_with_one_clear_line(workdir_with_results):
    workdir, config = workdir_with_results
    summary = workdir / "results" / "classification" / "summary.csv"
    if not summary.exists():
        pytest.skip("the test config runs no classification")
    pd.read_csv(summary).drop(columns="test_accuracy_sd").to_csv(summary, index=False)
    result = snakemake_figures(workdir, "results/figures/classification/accuracy.png", check=False)
    assert result.returncode != 0
    assert "summary.csv: missing column(s) test_accuracy_sd" in result.stdout + result.stderr
    assert not (workdir / "results" / "figures" / "classification" / "accuracy.png").exists()
    assert not list((workdir / "results").rglob("*.part"))
