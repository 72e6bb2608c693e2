"""Windowed forecasts of the held-out block: windows, contexts, baselines, networks, teacher."""

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from neurocircuit.fit import forecast as fc
from neurocircuit.fit.forecast_baselines import (
    BASELINES,
    fit_linear_forecaster,
    select_linear_forecaster,
)
from neurocircuit.fit.forecast_scores import column, score_per_step, table_columns
from neurocircuit.fit.forecast_summary import forecast_summary
from neurocircuit.fit.recording import Preprocessing, apply_minmax, minmax_range, preprocess_split
from neurocircuit.metrics import heldout_baseline_predictions
from neurocircuit.models.fitted import build_network, rollout
from neurocircuit.models.names import parse_model_name

pytestmark = pytest.mark.usefixtures("one_thread")

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
IDENTITY = Preprocessing("per_neuron", 0.0)  # the tiny series below is its own target


def tiny_series() -> np.ndarray:
    """(10, 1): training frames 0..5 span [0, 1] (min-max is the identity), test block 6..9."""
    return np.array([0.0, 1.0, 0.2, 0.4, 0.6, 0.8, 0.3, 0.5, 0.7, 0.9])[:, None]


def test_every_forecaster_gets_the_same_windows_by_hand():
    settings = fc.ForecastSettings(horizon=2, stride=2, context=3, linear_lags=(1,),
                                   linear_ridge=(0.1,))  # fmt: skip
    seen = []

    def zeros(contexts, windows):
        seen.append(contexts.recorded.copy())
        return np.zeros((windows.horizon, *contexts.recorded.shape[1:]))

    windows, scores, choices = fc.evaluate_heldout_forecasts(
        tiny_series(), 6, 2, IDENTITY, settings, 0.1, {"model": zeros}
    )
    # Windows at 6 and 8, contexts frames 3..5 and 5..7, targets frames 6..7 and 8..9.
    assert list(windows.starts) == [6, 8] and windows.horizon == 2 and windows.context == 3
    contexts = np.array([[0.4, 0.8], [0.6, 0.3], [0.8, 0.5]])[:, :, None]
    targets = np.array([[0.3, 0.7], [0.5, 0.9]])[:, :, None]
    assert np.allclose(seen[0], contexts)
    assert np.allclose(scores["model"]["mae"], [0.5, 0.7])  # the targets' means
    # Mean over the context (0.6 and 0.5333) and last frame (0.8 and 0.5), by hand.
    assert np.allclose(
        scores["context_mean"]["mae"], [(0.3 + 0.7 - 1.6 / 3) / 2, (0.1 + 0.9 - 1.6 / 3) / 2]
    )
    assert np.allclose(scores["last_frame"]["mae"], [0.35, 0.35])
    assert np.allclose(scores["start_state"]["mae"], [0.35, 0.35])  # σ = 0: the last frame
    mse_step1 = ((0.6 - 0.3) ** 2 + (1.6 / 3 - 0.7) ** 2) / 2
    assert scores["context_mean"]["pvar"][0] == pytest.approx(1 - mse_step1 / 0.04)
    # The linear model and the AR(1), fitted on the training frames, on those same contexts.
    baselines, same = fc.baseline_forecasters(tiny_series()[:6], 2, IDENTITY, settings, 0.1, 2)
    assert same == choices == {"linear_lags": 1, "linear_ridge": 0.1, "ar1_ridge": 0.1}
    for name in ("linear", "ar1"):
        given = fc.WindowContexts(contexts, 0.0)
        expected = score_per_step(baselines[name](given, windows), targets)
        assert np.allclose(scores[name]["mae"], expected["mae"]), name
        assert np.abs(expected["mae"] - scores["last_frame"]["mae"]).max() > 1e-3, name


def smooth_series(n_frames=120, n_neurons=5, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    time = np.arange(n_frames)[:, None]
    phases = rng.uniform(0, 2 * np.pi, n_neurons)
    return (
        2.0 + np.sin(2 * np.pi * time / 25 + phases) + 0.3 * rng.normal(size=(n_frames, n_neurons))
    )


def network_forecasters(n_units: int) -> dict:
    forecasters = {}
    for name in ("rate_dale_bptt", "spiking_nodale_eprop"):
        model = build_network(parse_model_name(name), n_units, {}, seed=0)
        forecasters[name] = fc.network_forecaster(model)
    return forecasters


def test_a_window_never_reads_the_recording_from_its_start_on():
    raw = smooth_series()
    preprocessing = Preprocessing("global", 2.0)
    settings = fc.ForecastSettings(horizon=8, stride=3, context=30, linear_lags=(1, 4))
    forecasters = network_forecasters(raw.shape[1])
    windows = fc.forecast_windows(len(raw), 80, settings)
    clean, _ = fc.forecast_predictions(raw, 80, 10, preprocessing, settings, None, forecasters,
                                       windows)  # fmt: skip
    assert set(clean) == {*forecasters, *BASELINES}
    for b in (0, 1, len(windows.starts) - 1):
        start = windows.starts[b]
        poisoned = raw.copy()
        poisoned[start:] = np.nan  # the future of this window, and only it
        one = fc.ForecastWindows(np.array([start]), windows.horizon, windows.context)
        predictions, _ = fc.forecast_predictions(
            poisoned, 80, 10, preprocessing, settings, None, forecasters, one
        )
        for name, forecast in predictions.items():
            assert np.isfinite(forecast).all(), (name, start)
            assert np.allclose(forecast[:, 0], clean[name][:, b], atol=1e-6), (name, start)


def test_primary_scores_are_against_the_recorded_frames_not_the_smoothed_ones():
    """An oracle of the recorded (normalised, unsmoothed) frames scores MAE 0; an oracle of the
    smoothed held-out block scores 0 only in the ``_smoothed`` columns."""
    raw = smooth_series()
    preprocessing = Preprocessing("global", 2.0)
    settings = fc.ForecastSettings(horizon=8, stride=2, context=30, linear_lags=(1, 4))
    recorded, smoothed = fc.heldout_targets(raw, 80, preprocessing)
    low, high = raw[:80].min(), raw[:80].max()
    assert np.allclose(recorded, (raw[80:] - low) / (high - low))

    def oracle(series):
        return lambda c, w: fc.window_targets(series, w, 80)

    forecasters = {"model": oracle(recorded), "smoothed_oracle": oracle(smoothed)}
    windows, scores, _ = fc.evaluate_heldout_forecasts(raw, 80, 10, preprocessing, settings,
                                                       None, forecasters)  # fmt: skip
    assert np.abs(scores["model"]["mae"]).max() < 1e-12
    assert np.allclose(scores["model"]["pvar"], 1.0)
    assert scores["model"]["mae_smoothed"].min() > 0.02
    assert np.abs(scores["smoothed_oracle"]["mae_smoothed"]).max() < 1e-12
    assert scores["smoothed_oracle"]["mae"].min() > 0.02
    # Per window and step, averaged over neurons: its mean over windows is the step's MAE.
    window_mae = scores["smoothed_oracle"]["window_mae"]
    assert window_mae.shape == (8, len(windows.starts))
    assert np.allclose(window_mae.mean(axis=1), scores["smoothed_oracle"]["mae"])


def test_per_neuron_pvar_counts_a_quiet_neuron_as_much_as_a_loud_one():
    rng = np.random.default_rng(3)
    target = np.stack(
        [rng.normal(0, 10.0, (2, 40)), rng.normal(0, 0.1, (2, 40)), rng.normal(0, 0.1, (2, 40))],
        axis=-1,
    )  # (H, B, N)
    forecast = target.copy()
    forecast[..., 1:] = target[..., 1:].mean(axis=1, keepdims=True)  # the quiet ones: their mean
    scores = score_per_step(forecast, target)
    assert (scores["pvar"] > 0.99).all()  # pooled: the loud neuron's variance dominates
    assert np.allclose(scores["pvar_per_neuron_median"], 0.0)  # per neuron: 1, 0, 0


def test_forecast_table_differences_to_linear_with_intervals():
    from neurocircuit.fit.forecast_scores import difference_vs_linear

    rng = np.random.default_rng(4)
    horizon, n_windows = 4, 40
    scores = {}
    for name in ("model", "context_mean", "last_frame", "start_state", "linear", "ar1"):
        window_mae = rng.uniform(0.1, 0.2, (horizon, n_windows)) + (0.05 if name == "ar1" else 0)
        others = ("pvar", "pvar_per_neuron_median", "mae_smoothed", "pvar_smoothed")
        scores[name] = {metric: rng.uniform(size=horizon) for metric in others}
        scores[name].update(mae=window_mae.mean(axis=1), window_mae=window_mae)
    windows = fc.ForecastWindows(np.arange(n_windows), horizon, 10)
    table = fc.forecast_table(scores, {"model": "m"}, windows, 0.5, block=4)
    assert set(table_columns()) <= set(table.columns)
    step = table["mae_ar1"] - table["mae_linear"]
    assert np.allclose(table[column("mae_diff_vs_linear", "ar1")], step)
    assert np.allclose(table[column("mae_diff_vs_linear_cummean", "ar1")].iloc[-1], step.mean())
    low, high = table["mae_diff_vs_linear_low_ar1"], table["mae_diff_vs_linear_high_ar1"]
    assert (low < step).all() and (step < high).all() and (low > 0).all()  # 0.05 worse: clear
    again = difference_vs_linear(scores["ar1"]["window_mae"], scores["linear"]["window_mae"], 4)
    assert np.allclose(again["mae_diff_vs_linear_low"], low)  # seeded: the same interval
    wider = difference_vs_linear(scores["ar1"]["window_mae"], scores["linear"]["window_mae"], 1)
    assert not np.allclose(wider["mae_diff_vs_linear_low"], low)  # the block matters


def test_contexts_are_preprocessed_as_the_heldout_fit_and_leak_nothing():
    """The first window's context ends where the held-out fit's training part ends: its start
    state (the held-out fit's last smoothed frame) and AR(1) forecast are the held-out fit's,
    its persistence the last recorded frame; later contexts are smoothed alone."""
    raw = smooth_series()
    preprocessing = Preprocessing("global", 2.0)
    settings = fc.ForecastSettings(horizon=8, stride=4, context=30)
    windows = fc.forecast_windows(len(raw), 96, settings)
    predictions, choices = fc.forecast_predictions(raw, 96, 12, preprocessing, settings, None, {},
                                                   windows)  # fmt: skip
    train_part, test_part = preprocess_split(raw, preprocessing, 96)
    heldout = heldout_baseline_predictions(train_part, test_part, choices["ar1_ridge"])
    assert np.allclose(predictions["start_state"][:, 0], heldout["last_frame"][:8])
    assert np.allclose(predictions["ar1"][:, 0], heldout["ar1"][:8])
    low, high = minmax_range(raw[:96], "global")
    recorded = apply_minmax(raw, low, high)
    assert np.allclose(predictions["last_frame"][:, 0], recorded[95])  # ZAPBench's persistence
    assert not np.allclose(predictions["last_frame"][:, 0], heldout["last_frame"][:8])
    # A later window's start is not the test block's smoothed frame (which has seen the frames
    # after it), but that frame smoothed with only the past.
    later = windows.starts[3]
    assert not np.allclose(predictions["start_state"][0, 3], test_part[later - 96 - 1])


def test_rate_forecast_starts_from_the_last_frame_spiking_from_the_whole_context():
    rng = np.random.default_rng(1)
    contexts = rng.uniform(0.2, 0.8, (12, 3, 6))
    rate = build_network(parse_model_name("rate_nodale_bptt"), 6, {}, seed=0)
    forecast = fc.network_forecast(rate, contexts, 5)
    for b in range(3):
        assert np.allclose(forecast[:, b], rollout(rate, contexts[-1, b], 6)[1:], atol=1e-6)
    spiking = build_network(parse_model_name("spiking_dale_bptt"), 6, {}, seed=0)
    altered = contexts.copy()
    altered[:-1] = rng.uniform(0.2, 0.8, altered[:-1].shape)  # same last frame
    assert np.allclose(fc.network_forecast(rate, altered, 5), forecast)
    warm = fc.network_forecast(spiking, contexts, 5)
    assert np.abs(fc.network_forecast(spiking, altered, 5) - warm).max() > 1e-3
    cold = fc.network_forecast(spiking, contexts[-1:], 5)  # one frame: the plain rollout
    assert np.allclose(cold[:, 0], rollout(spiking, contexts[-1, 0], 6)[1:], atol=1e-6)


def test_linear_forecaster_is_exact_on_an_oscillation_and_picked_on_validation():
    time = np.arange(200)[:, None]
    series = 0.5 + 0.3 * np.cos(2 * np.pi * time / 17 + np.array([0.0, 1.0, 2.5]))
    exact = fit_linear_forecaster(series[:150], lags=2, horizon=6, ridge=0.0)
    contexts = np.stack([series[s - 10 : s] for s in (160, 170, 180)], axis=1)
    targets = np.stack([series[s : s + 6] for s in (160, 170, 180)], axis=1)
    assert np.abs(exact.predict(contexts) - targets).max() < 1e-8
    assert (
        np.abs(fit_linear_forecaster(series[:150], 1, 6, 0.0).predict(contexts) - targets).max()
        > 0.05
    )
    picked = select_linear_forecaster(series[:150], series[:160], contexts, targets, 6,
                                      lags_grid=(1, 2, 64), ridge_grid=(1.0, 0.0))  # fmt: skip
    assert picked.lags == 2 and picked.ridge == 0.0  # 64 lags: longer than the contexts


def test_teacher_forecasts_from_its_rates_and_the_spikes_already_fired():
    from neurocircuit.fit.truth import teacher_forecasts
    from neurocircuit.imaging.synthetic import SyntheticVolumeSpec, calcium_kernel, spikes_to_dff
    from neurocircuit.imaging.teacher import RATE_FLOOR, build_teacher, teacher_trajectory

    spec = SyntheticVolumeSpec(n_neurons=20, n_volumes=300, population="teacher", n_ensembles=4)
    teacher = build_teacher(20, 4, rng=np.random.default_rng(0), noise=0.0)
    rng = np.random.default_rng(1)
    latent, _ = teacher_trajectory(teacher, 300, 1.0 / spec.volume_rate_hz, rng)
    arrays = {key: getattr(teacher, key) for key in ("weight", "sign", "group", "tau_s", "gain",
                                                     "threshold")}  # fmt: skip
    expected = rng.uniform(0.2, 0.5, 20) * (latent + RATE_FLOOR)  # spikes per volume, (T, N)
    index = np.arange(20)
    preprocessing = Preprocessing("per_neuron", 2.0)
    settings = fc.ForecastSettings(horizon=16, stride=4, context=64)
    maes = []
    for spikes in (expected, rng.poisson(expected)):  # the spikes their expectation, or drawn
        truth = {"spec": asdict(spec), "teacher": {**arrays, "rates": latent}, "spikes": spikes.T}
        raw = 3.0 * spikes_to_dff(spikes.T, calcium_kernel(spec)).T + 1.0  # each unit's scale
        train_part, _ = preprocess_split(raw, preprocessing, 240)

        def teacher_forecaster(contexts, windows, truth=truth, train_part=train_part):
            return teacher_forecasts(truth, index, train_part, 300, windows, 2.0)

        _, scores, _ = fc.evaluate_heldout_forecasts(raw, 240, 30, preprocessing, settings, None,
                                                     {"model": teacher_forecaster})  # fmt: skip
        maes.append((scores["model"]["mae_smoothed"], scores["last_frame"]["mae_smoothed"]))
    (exact, persistence), (drawn, drawn_persistence) = maes
    # It forecasts the smoothed observation: exact against the smoothed target.
    assert exact.max() < 1e-6 and persistence[-1] > 0.05
    # Drawn spikes: the calcium of those already fired makes the first steps the best known.
    assert drawn[0] < 0.5 * drawn[-1] and drawn.max() < drawn_persistence[-1]


def hand_table(model: str, seed: int, mae: float, horizon: int = 2) -> pd.DataFrame:
    """A forecast.csv of ``horizon`` steps: the model's MAE ``mae`` then + 0.1 a step, fixed
    baselines, every other column 0.5, the model's differences to the linear model +- 0.02."""
    steps = np.arange(1, horizon + 1)
    table = {"dataset": "synthetic", "model": model, "seed": seed}
    table.update({name: np.full(horizon, 0.5) for name in table_columns()})
    table.update(step=steps, n_windows=7, bootstrap_block=2, mae=mae + 0.1 * (steps - 1))
    for name, value in (("context_mean", 0.3), ("last_frame", 0.1), ("linear", 0.15),
                        ("ar1", 0.25)):  # fmt: skip
        table[f"mae_{name}"] = value * 3.0 ** (steps - 1)
        table[f"pvar_{name}"] = -1.0 * (steps - 1)
    diff = table["mae"] - table["mae_linear"]
    for part, values in (("", diff), ("_cummean", np.cumsum(diff) / steps)):
        for end, shift in (("", 0.0), ("_low", -0.02), ("_high", 0.02)):
            table[f"mae_diff_vs_linear{part}{end}"] = values + shift
    return pd.DataFrame(table)


def test_summary_is_mean_and_sd_over_seeds_by_hand(tmp_path):
    paths = []
    for model, seed, mae in [("rate_dale_bptt", 0, 0.2), ("rate_dale_bptt", 1, 0.4),
                             ("teacher", 0, 0.05)]:  # fmt: skip
        paths.append(tmp_path / f"{model}{seed}.csv")
        hand_table(model, seed, mae).to_csv(paths[-1], index=False)
    summary = forecast_summary(paths).set_index("forecaster")
    rate = summary.loc["rate_dale_bptt"]
    assert rate["kind"] == "network" and rate["n_runs"] == 2
    assert rate["forecast_mae_mean"] == pytest.approx(0.35)  # (0.25 + 0.45) / 2
    assert rate["forecast_mae_sd"] == pytest.approx(np.std([0.25, 0.45], ddof=1))
    assert rate["forecast_pvar_mean"] == pytest.approx(0.5)
    assert rate["forecast_pvar_per_neuron_median_mean"] == pytest.approx(0.5)
    # Model minus linear: steps (0.2 - 0.15, 0.3 - 0.45) and (0.4 - 0.15, 0.5 - 0.45).
    assert rate["mae_diff_vs_linear_first_step"] == pytest.approx((0.05 + 0.25) / 2)
    assert rate["mae_diff_vs_linear_last_step_low"] == pytest.approx((-0.15 + 0.05) / 2 - 0.02)
    assert rate["mae_diff_vs_linear"] == pytest.approx(((0.05 - 0.15) + (0.25 + 0.05)) / 4)
    assert rate["mae_diff_vs_linear_high"] == pytest.approx(0.05 + 0.02)
    assert rate["mid_step"] == 1 and rate["bootstrap_block"] == 2
    assert summary.loc["teacher", "kind"] == "teacher"
    linear = summary.loc["linear"]
    assert linear["kind"] == "baseline" and linear["n_runs"] == 3
    assert linear["forecast_mae_mean"] == pytest.approx(0.3) and linear["forecast_mae_sd"] == 0
    assert linear["mae_diff_vs_linear"] == 0 and linear["mae_diff_vs_linear_high"] == 0
    assert list(summary.index)[0] == "teacher"  # sorted by MAE: the ceiling first
    assert summary.loc["ar1", "mae_last_step_mean"] == pytest.approx(0.75)
    assert summary.loc["ar1", "mae_diff_vs_linear_last_step"] == 0.5  # its own column


def test_reported_steps_are_1_8_32_or_first_middle_last():
    from neurocircuit.fit.forecast_scores import reported_steps

    assert reported_steps(32) == {"first": 1, "mid": 8, "last": 32}
    assert reported_steps(64)["mid"] == 8
    assert reported_steps(20) == {"first": 1, "mid": 10, "last": 20}
    assert reported_steps(1) == {"first": 1, "mid": 1, "last": 1}


def test_bad_settings_and_short_blocks_stop_with_one_line(tmp_path):
    with pytest.raises(ValueError, match="forecast.horizon must be >= 1"):
        fc.ForecastSettings(horizon=0)
    with pytest.raises(ValueError, match="no forecast window"):
        fc.forecast_windows(50, 50, fc.ForecastSettings())
    with pytest.raises(ValueError, match="linear baseline: no lag"):
        select_linear_forecaster(np.zeros((10, 2)), np.zeros((12, 2)), np.zeros((3, 1, 2)),
                                 np.zeros((2, 1, 2)), 32, (1, 4), (1.0,))  # fmt: skip
    broken = tmp_path / "forecast.csv"
    pd.DataFrame({"dataset": ["x"], "model": ["m"], "step": [1]}).to_csv(broken, index=False)
    with pytest.raises(ValueError, match="forecast.csv: missing column"):
        forecast_summary([broken])


def test_forecast_config_is_validated():
    from neurocircuit.config import ConfigError, validate_config

    with pytest.raises(ConfigError, match="horizon"):
        validate_config({"fit": {"forecast": {"horizon": 0}}}, SCHEMA)
    config = validate_config({}, SCHEMA)
    assert config["fit"]["forecast"]["horizon"] == 32 and config["fit"]["forecast"]["stride"] == 1


def test_a_model_of_another_recording_stops_the_forecast_with_one_line(tmp_path):
    from neurocircuit.models.fitted import save_fitted_model

    np.save(tmp_path / "activity.npy", smooth_series(n_neurons=5).T)
    model = build_network(parse_model_name("rate_dale_bptt"), 4, {}, seed=0)
    save_fitted_model(model, tmp_path / "model.pt", {})
    split = {"preprocessing": {"normalisation": "global", "smoothing_sigma_frames": 2.0},
             "heldout_fraction": 0.2, "validation_fraction": 0.125, "ar1_ridge": None,
             "frame_period_s": 1.0, "max_neurons": None, "max_frames": None}  # fmt: skip
    params = {"dataset": "x", "model": "rate_dale_bptt", "seed": 0, "split": split, "forecast": {}}
    outputs = {"table": tmp_path / "forecast.csv", "scores": tmp_path / "forecast.json"}
    with pytest.raises(ValueError, match="model.pt: 4 units, but .*activity.npy has 5 neurons"):
        fc.forecast_fit_file(tmp_path / "activity.npy", tmp_path / "model.pt", outputs, params)
    assert not outputs["table"].exists() and not outputs["scores"].exists()
    save_fitted_model(
        build_network(parse_model_name("rate_dale_bptt"), 5, {}, 0), tmp_path / "model.pt", {}
    )
    scores = fc.forecast_fit_file(tmp_path / "activity.npy", tmp_path / "model.pt", outputs, params)
    table = pd.read_csv(outputs["table"])
    assert list(table["step"]) == list(range(1, 25)) and scores["forecast_horizon"] == 24
    assert scores["forecast_n_windows"] == 1 and scores["forecast_context"] == 96
    assert scores["forecast_mae"] == pytest.approx(table["mae"].mean())
    assert scores["forecast_mae_linear"] < scores["forecast_mae_context_mean"]
    assert scores["forecast_mae_diff_vs_linear"] == pytest.approx(
        scores["forecast_mae"] - scores["forecast_mae_linear"]
    )
    # One window: fewer than two blocks, no interval (null, not a number).
    assert scores["forecast_mae_diff_vs_linear_low"] is None and scores["forecast_bootstrap_block"]
    assert scores["forecast_mae_smoothed"] != scores["forecast_mae"]


def test_forecast_figure_draws_every_model_baseline_and_the_teacher(tmp_path):
    import matplotlib.image
    from helpers.examples import write_forecast_table
    from neurocircuit.figures.forecast import plot_forecast

    paths = []
    for dataset in ("synthetic", "zebrafish"):
        for model, seed in (
            ("rate_dale_bptt", 0),
            ("rate_dale_bptt", 1),
            ("spiking_nodale_eprop", 0),
        ):
            paths.append(tmp_path / dataset / model / f"seed{seed}" / "forecast.csv")
            write_forecast_table(paths[-1], dataset, model, seed, 0.01 + 0.01 * seed)
    paths.append(tmp_path / "synthetic" / "teacher" / "forecast.csv")
    write_forecast_table(paths[-1], "synthetic", "teacher", 0, 0.005)
    png, pdf = tmp_path / "forecast.png", tmp_path / "forecast.pdf"
    plot_forecast(paths, png, pdf, dpi=60)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    image = matplotlib.image.imread(png)
    assert image.shape[1] > image.shape[0] and image[..., :3].std() > 0.05
    pd.read_csv(paths[0]).drop(columns="mae_linear").to_csv(paths[0], index=False)
    with pytest.raises(ValueError, match="seed0/forecast.csv: missing column.*mae_linear"):
        plot_forecast(paths, png, pdf)
