"""Figures: every function writes a real PNG and PDF from small files in the stages' formats, and
bad input (missing file, column, dataset or key) stops with one clear error naming the file."""

from pathlib import Path

import h5py
import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from helpers.examples import FIT_MODELS, write_classification_results, write_fit_results
from neurocircuit.figures import (
    plot_ablation_areas,
    plot_ablation_curves,
    plot_classification_accuracy,
    plot_connectivity,
    plot_convergence,
    plot_learning_curves,
    plot_pvar_per_neuron,
    plot_recorded_vs_fitted,
)
from neurocircuit.figures.activity import example_neurons, read_prediction
from neurocircuit.figures.connectivity import (
    excitatory_first,
    neuron_identity,
    read_connectivity,
)
from neurocircuit.figures.style import (
    as_percent,
    figure_traits,
    model_label,
    read_table,
    run_id,
    save_figure,
)

DATASET = "synthetic"


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """A results/ tree with two classification data sets and four fitted models × two seeds."""
    root = tmp_path_factory.mktemp("results")
    write_classification_results(root)
    write_fit_results(root, dataset=DATASET)
    return root


def assert_figure_files(png: Path, pdf: Path) -> None:
    """Both files exist, are what they claim to be, and the PNG is a real, non-blank image."""
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    image = matplotlib.image.imread(png)
    assert image.shape[0] > 300 and image.shape[1] > 400
    assert image[..., :3].std() > 0.05, "the PNG is (nearly) blank"
    assert not list(png.parent.glob("*.part")), "a temporary file was left behind"


def outputs(tmp_path: Path, name: str) -> tuple[Path, Path]:
    return tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"


def fit_files(results: Path, name: str) -> list[Path]:
    return sorted((results / "fit" / DATASET).glob(f"*/seed*/{name}"))


# ---------------------------------------------------------------- every figure is written
def test_classification_accuracy(results, tmp_path):
    png, pdf = outputs(tmp_path, "accuracy")
    plot_classification_accuracy(results / "classification" / "summary.csv", png, pdf, dpi=80)
    assert_figure_files(png, pdf)


def test_learning_curves(results, tmp_path):
    png, pdf = outputs(tmp_path, "curves")
    histories = sorted(results.glob("classification/*/*/seed*/history.csv"))
    assert len(histories) == 3 * 2 * 2  # data sets × models × seeds
    plot_learning_curves(histories, png, pdf, dpi=80)
    assert_figure_files(png, pdf)


def test_recorded_vs_fitted(results, tmp_path):
    png, pdf = outputs(tmp_path, "activity")
    prediction = results / "fit" / DATASET / FIT_MODELS[1] / "seed0" / "prediction.h5"
    plot_recorded_vs_fitted(prediction, png, pdf, n_examples=3, dpi=80)
    assert_figure_files(png, pdf)


def test_pvar_per_neuron(results, tmp_path):
    png, pdf = outputs(tmp_path, "pvar")
    plot_pvar_per_neuron(
        fit_files(results, "pvar_per_neuron.csv"),
        fit_files(results, "metrics.json"),
        png,
        pdf,
        dpi=80,
    )
    assert_figure_files(png, pdf)


def test_connectivity(results, tmp_path):
    png, pdf = outputs(tmp_path, "connectivity")
    plot_connectivity(
        sorted((results / "fit" / DATASET).glob("*/seed0/weights.npz")), png, pdf, dpi=80
    )
    assert_figure_files(png, pdf)


def test_convergence(results, tmp_path):
    png, pdf = outputs(tmp_path, "convergence")
    table = pd.read_csv(results / "fit" / "convergence.csv")
    # the examples hold both kinds of run: half the gain reached, and no gain over the baseline
    assert table["gain_reached"].any() and not table["gain_reached"].all()
    plot_convergence(
        fit_files(results, "history.csv"),
        results / "fit" / "convergence.csv",
        png,
        pdf,
        dataset=DATASET,
        dpi=80,
    )
    assert_figure_files(png, pdf)


def test_ablation_curves(results, tmp_path):
    png, pdf = outputs(tmp_path, "ablation_curves")
    plot_ablation_curves(sorted(results.glob("ablation/*/*/seed*.csv")), png, pdf, dpi=80)
    assert_figure_files(png, pdf)


def test_ablation_areas(results, tmp_path):
    png, pdf = outputs(tmp_path, "ablation_areas")
    plot_ablation_areas(results / "ablation" / "summary.csv", png, pdf, dataset=DATASET, dpi=80)
    assert_figure_files(png, pdf)


def drawn_figure(monkeypatch):
    """Replace the ablation figures' save_figure with one that also keeps the figure's texts."""
    import neurocircuit.figures.ablation as module

    drawn = {}

    def keep_and_save(fig, png, pdf, dpi):
        drawn["titles"] = [ax.get_title() for ax in fig.axes]
        drawn["texts"] = [t.get_text() for ax in fig.axes for t in ax.texts]
        drawn["n_axes"] = len(fig.axes)
        save_figure(fig, png, pdf, dpi)

    monkeypatch.setattr(module, "save_figure", keep_and_save)
    return drawn


def test_ablation_curves_show_the_inhibitory_share(results, tmp_path, monkeypatch):
    drawn = drawn_figure(monkeypatch)
    copies = []
    for path in sorted(results.glob(f"ablation/{DATASET}/*/seed*.csv")):
        copy = tmp_path / path.relative_to(results)
        copy.parent.mkdir(parents=True, exist_ok=True)
        table = pd.read_csv(path)
        share = np.where(table["fraction"] > 0, 0.2 + 0.6 * table["fraction"], np.nan)
        table.assign(inhibitory_share=share).to_csv(copy, index=False)
        copies.append(copy)
    png, pdf = outputs(tmp_path, "ablation_curves_share")
    plot_ablation_curves(copies, png, pdf, dpi=80)
    assert_figure_files(png, pdf)
    n_strategies = len(pd.read_csv(copies[0])["strategy"].unique())
    assert drawn["n_axes"] == 2 * n_strategies  # a pVar-ratio and a share panel per strategy
    plot_ablation_curves(sorted(results.glob("ablation/*/*/seed*.csv")), png, pdf, dpi=80)
    assert drawn["n_axes"] == n_strategies  # tables without the column: no share panels


def test_ablation_areas_show_single_factor_comparisons(tmp_path, monkeypatch):
    import itertools

    from neurocircuit.ablation import summarise_ablations

    drawn = drawn_figure(monkeypatch)
    runs = []
    for dynamics, dale, method in itertools.product(("spiking", "rate"), ("dale", "nodale"),
                                                    ("bptt", "eprop")):  # fmt: skip
        for seed in range(3):
            level = 0.3 + 0.2 * (dale == "dale") + 0.05 * seed
            curves = pd.DataFrame(
                {
                    "strategy": ["strongest", "strongest", "strongest_global", "strongest_global"],
                    "fraction": [0.0, 1.0, 0.0, 1.0],
                    "repeat": 0,
                    "inhibitory_share": [np.nan, 0.5, np.nan, 0.9],
                    "pvar": [0.9, 0.9 * level, 0.9, 0.8 * level],
                    "pvar_ratio": [1.0, level, 1.0, 0.8 * level],
                }
            )
            model = f"{dynamics}_{dale}_{method}"
            runs.append({"curves": curves, "dataset": DATASET, "model": model, "seed": seed})
    summary = tmp_path / "summary.csv"
    summarise_ablations(runs, n_resamples=100).to_csv(summary, index=False)
    png, pdf = outputs(tmp_path, "ablation_comparisons")
    plot_ablation_areas(summary, png, pdf, dataset=DATASET, dpi=60)
    assert_figure_files(png, pdf)
    assert {"Dale (left) vs no Dale (right)", "spiking (left) vs rate (right)",
            "BPTT (left) vs e-prop (right)"} <= set(drawn["titles"])  # fmt: skip
    # 2 strategies x 3 comparisons x 4 combinations of the other factors, each with its test
    tests = [text for text in drawn["texts"] if text.startswith("d=")]
    assert len(tests) == 24 and all("p" in text for text in tests)


def test_ablation_areas_reject_an_old_summary(results, tmp_path):
    summary = pd.read_csv(results / "ablation" / "summary.csv")
    old = pd.concat(
        [
            summary[summary["section"] == "auc"].dropna(axis=1, how="all"),
            pd.DataFrame([{"section": "welch", "dataset": DATASET, "strategy": "random",
                           "comparison": "Dale vs no Dale", "p": 0.5, "cohens_d": 0.1}]),
        ]
    )  # fmt: skip
    bad = tmp_path / "summary.csv"
    old.to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"summary\.csv: welch rows lack column\(s\) metric"):
        plot_ablation_areas(bad, *outputs(tmp_path, "bad"), dataset=DATASET)


# ---------------------------------------------------------------- bad input: one clear error
def test_missing_column_names_file_and_column(results, tmp_path):
    summary = pd.read_csv(results / "classification" / "summary.csv")
    bad = tmp_path / "summary.csv"
    summary.drop(columns="test_accuracy_sd").to_csv(bad, index=False)
    png, pdf = outputs(tmp_path, "bad")
    with pytest.raises(ValueError, match=r"summary\.csv: missing column\(s\) test_accuracy_sd"):
        plot_classification_accuracy(bad, png, pdf)
    assert not png.exists() and not pdf.exists()


def test_missing_file_is_named(tmp_path):
    png, pdf = outputs(tmp_path, "bad")
    with pytest.raises(FileNotFoundError, match=r"nowhere\.csv: file not found"):
        plot_classification_accuracy(tmp_path / "nowhere.csv", png, pdf)


def test_empty_and_garbled_tables(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv: not a readable CSV table"):
        read_table(empty, ["a"])
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b\n")
    with pytest.raises(ValueError, match=r"header\.csv: the table has no rows"):
        read_table(header_only, ["a"])


def test_ablation_curve_missing_column(results, tmp_path):
    source = next(results.glob("ablation/*/*/seed0.csv"))
    bad = tmp_path / "ablation" / DATASET / "spiking_dale_eprop" / "seed0.csv"
    bad.parent.mkdir(parents=True)
    pd.read_csv(source).drop(columns="pvar_ratio").to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"seed0\.csv: missing column\(s\) pvar_ratio"):
        plot_ablation_curves([bad], *outputs(tmp_path, "bad"))


def test_ablation_summary_without_areas(results, tmp_path):
    summary = pd.read_csv(results / "ablation" / "summary.csv")
    bad = tmp_path / "summary.csv"
    summary[summary["section"] == "welch"].to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"summary\.csv: no 'auc' rows"):
        plot_ablation_areas(bad, *outputs(tmp_path, "bad"))


def test_convergence_without_iterations_column(results, tmp_path):
    bad = tmp_path / "convergence.csv"
    table = pd.read_csv(results / "fit" / "convergence.csv")
    table.drop(columns=["iterations_to_half_gain"]).to_csv(bad, index=False)
    with pytest.raises(
        ValueError,
        match=r"convergence\.csv: missing a column of iterations to half the gain "
        r"\(iterations_to_half_gain\)",
    ):
        plot_convergence(fit_files(results, "history.csv"), bad, *outputs(tmp_path, "bad"))
    table.drop(columns=["baseline_pvar_mean"]).to_csv(bad, index=False)
    with pytest.raises(
        ValueError, match=r"convergence\.csv: missing column\(s\) baseline_pvar_mean"
    ):
        plot_convergence(fit_files(results, "history.csv"), bad, *outputs(tmp_path, "bad"))


def test_metrics_missing_key(results, tmp_path):
    bad = tmp_path / "fit" / DATASET / "rate_dale_bptt" / "seed0" / "metrics.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"pvar": 0.9}')
    with pytest.raises(ValueError, match=r"metrics\.json: missing key\(s\) pvar_per_neuron_median"):
        plot_pvar_per_neuron(
            fit_files(results, "pvar_per_neuron.csv"), [bad], *outputs(tmp_path, "bad")
        )


def test_prediction_missing_dataset_and_shape(tmp_path):
    path = tmp_path / "prediction.h5"
    with h5py.File(path, "w") as h5:
        h5["target"] = np.zeros((3, 10))
    with pytest.raises(ValueError, match=r"prediction\.h5: missing dataset\(s\) prediction"):
        read_prediction(path)
    with h5py.File(path, "w") as h5:
        h5["target"] = np.zeros((3, 10))
        h5["prediction"] = np.zeros((3, 9))
    with pytest.raises(ValueError, match=r"must be equal neurons × time matrices"):
        read_prediction(path)
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match=r"garbage\.h5: not a readable HDF5 file"):
        read_prediction(garbage)


def test_connectivity_bad_archives(tmp_path):
    path = tmp_path / "weights.npz"
    np.savez(path, other=np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"weights\.npz: missing array 'weights'"):
        read_connectivity(path)
    np.savez(path, weights=np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"must be a square matrix"):
        read_connectivity(path)
    np.savez(path, weights=np.zeros((3, 3)), neuron_sign=np.ones(2))
    with pytest.raises(ValueError, match=r"'neuron_sign' has 2 entries for 3 neurons"):
        read_connectivity(path)


def test_result_path_outside_layout_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"not a per-run result path"):
        run_id(tmp_path / "history.csv")
    assert run_id("results/fit/zebrafish/rate_dale_bptt/seed12/history.csv") == (
        "zebrafish",
        "rate_dale_bptt",
        12,
    )
    assert run_id("results/ablation/zebrafish/rate_dale_bptt/seed3.csv").seed == 3


# ---------------------------------------------------------------- helpers, golden values
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("spiking_dale_eprop", ("spiking", True, "eprop")),
        ("spiking_nodale_bptt", ("spiking", False, "bptt")),
        ("spiking_dalesign_tbptt", ("spiking", True, "tbptt")),
        ("rate_nodale_force", ("rate", False, "force")),
        ("teacher", ("rate", True, "unknown")),
        # names outside the grammar are not guessed at (classification models, typos)
        ("rate-no-dale-bptt", ("unknown", None, "unknown")),
        ("lif_dale", ("unknown", None, "unknown")),
        ("mystery", ("unknown", None, "unknown")),
    ],
)
def test_figure_traits_come_from_the_spec(name, expected):
    assert tuple(figure_traits(name))[:3] == expected
    assert figure_traits(name).learned_sign == ("dalesign" in name)


def test_model_label():
    assert model_label("rate_nodale_eprop") == "rate, no Dale, e-prop"
    assert model_label("lif") == "lif"
    assert model_label("rate_dalesign_bptt") == "rate, Dale, learned sign, BPTT"


def test_as_percent_only_scales_fractions():
    np.testing.assert_allclose(as_percent([0.5, 0.863, np.nan]), [50.0, 86.3, np.nan])
    np.testing.assert_allclose(as_percent([86.3, 97.0]), [86.3, 97.0])


def test_example_neurons_span_best_to_worst():
    scores = np.array([0.1, 0.9, np.nan, 0.5, 0.7, 0.3])
    picks = example_neurons(scores, 3)
    assert list(picks) == [1, 3, 0]  # best (0.9), middle (0.5), worst (0.1); NaN never picked
    assert len(example_neurons(scores, 50)) == 5


def test_identity_and_excitatory_first_order():
    weights = np.array([[0.0, -2.0, -1.0], [1.0, 0.0, 3.0], [-0.5, 0.2, 0.0]])
    identity, fixed = neuron_identity(weights, None)
    assert not fixed
    np.testing.assert_array_equal(identity, [-1, 1, -1])  # sign of each row's net outgoing sum
    order = excitatory_first(identity, weights)
    assert list(order) == [1, 0, 2]  # E first; then I by decreasing strength (3.0 > 0.7)
    signs = np.array([1.0, -1.0, 1.0])
    fixed_identity, fixed = neuron_identity(weights, signs)
    assert fixed
    np.testing.assert_array_equal(fixed_identity, signs)


def test_empty_sign_vector_means_no_fixed_identity(tmp_path):
    path = tmp_path / "weights.npz"
    np.savez(path, weights=np.eye(3), neuron_sign=np.zeros(0))
    weights, signs = read_connectivity(path)
    assert signs is None
    np.testing.assert_array_equal(weights, np.eye(3))


def test_read_connectivity_transposes_post_by_pre(tmp_path):
    path = tmp_path / "weights.npz"
    post_by_pre = np.array([[0.0, 1.0], [2.0, 0.0]])
    np.savez(path, weights=post_by_pre, neuron_sign=np.array([0.3, -0.2]))
    weights, signs = read_connectivity(path, presynaptic_axis=1)
    np.testing.assert_array_equal(weights, post_by_pre.T)
    np.testing.assert_array_equal(signs, [1.0, -1.0])


def test_failed_save_leaves_nothing(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    png, pdf = outputs(tmp_path, "broken")

    calls = []

    def broken_savefig(path, **kwargs):
        calls.append(kwargs["format"])
        Path(path).write_bytes(b"a figure")
        if len(calls) == 2:  # the PNG is written, then the PDF fails
            raise OSError("disk full")

    fig.savefig = broken_savefig
    with pytest.raises(OSError, match="disk full"):
        save_figure(fig, png, pdf)
    assert calls == ["png", "pdf"]
    assert list(tmp_path.iterdir()) == []  # neither figure, no temporary file


def test_figures_config_defaults_and_bad_values():
    from neurocircuit.config import ConfigError, validate_config

    schema = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
    assert validate_config({}, schema)["figures"] == {
        "dpi": 150,
        "font_size": 10,
        "example_neurons": 4,
    }
    with pytest.raises(ConfigError, match=r"figures\.dpi"):
        validate_config({"figures": {"dpi": 10}}, schema)
    with pytest.raises(
        ConfigError, match=r"unknown config key 'figures\.dpii' \(did you mean 'dpi'\?\)"
    ):
        validate_config({"figures": {"dpii": 300}}, schema)
