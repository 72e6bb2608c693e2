"""pVar and its baselines against values computed by hand."""

import numpy as np
import pytest
from neurocircuit import metrics

# Two neurons, four frames (time-major): neuron 0 = 0, 1, 2, 3; neuron 1 = 1, 3, 5, 7.
TWO_NEURONS = np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0], [3.0, 7.0]])


def test_pvar_global_and_per_neuron_by_hand():
    prediction = TWO_NEURONS + np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    # MSE = (1 + 4) / 8; the variance of all eight values is 4.6875.
    assert metrics.pvar(prediction, TWO_NEURONS) == pytest.approx(1 - (5 / 8) / 4.6875)
    per_neuron = metrics.pvar_per_neuron(prediction, TWO_NEURONS)
    assert per_neuron == pytest.approx([1 - (1 / 4) / 1.25, 1 - (4 / 4) / 5.0])


def test_baseline_mean_by_hand():
    # Neuron variances 1.25 and 5 -> MSE 3.125; global variance 4.6875 -> pVar 1/3.
    assert metrics.baseline_pvar_mean(TWO_NEURONS) == pytest.approx(1 / 3)
    prediction = metrics.predict_time_mean(TWO_NEURONS)
    assert prediction[:, 0] == pytest.approx([1.5] * 4)
    assert metrics.pvar_per_neuron(prediction, TWO_NEURONS) == pytest.approx([0.0, 0.0])


def test_ar1_fit_and_rollout_by_hand():
    # x = 0, 1, 1, 0: least squares on (0->1, 1->1, 1->0) gives A = -1/2, b = 1, and the rollout
    # from 0 is 0, 1, 0.5, 0.75 (never the data again).
    series = np.array([[0.0], [1.0], [1.0], [0.0]])
    weights, bias = metrics.fit_ar1(series, ridge=0.0)
    assert weights[0, 0] == pytest.approx(-0.5)
    assert bias[0] == pytest.approx(1.0)
    rollout = metrics.predict_ar1_rollout(series, ridge=0.0)
    assert rollout[:, 0] == pytest.approx([0.0, 1.0, 0.5, 0.75])
    # MSE = (0.5² + 0.75²) / 4 = 0.203125, variance 0.25.
    assert metrics.baseline_pvar_ar1(series, ridge=0.0) == pytest.approx(0.1875)


def test_ar1_ridge_by_hand():
    # ridge 1: λ = trace(XcᵀXc) / N = 2/3, so A = (-1/3) / (4/3) = -1/4 and b = 2/3 + 1/6 = 5/6;
    # rollout 0, 5/6, 5/8, 65/96.
    series = np.array([[0.0], [1.0], [1.0], [0.0]])
    weights, bias = metrics.fit_ar1(series, ridge=1.0)
    assert weights[0, 0] == pytest.approx(-0.25)
    assert bias[0] == pytest.approx(5 / 6)
    mse = (0 + (1 / 6) ** 2 + (3 / 8) ** 2 + (65 / 96) ** 2) / 4
    assert metrics.baseline_pvar_ar1(series, ridge=1.0) == pytest.approx(1 - mse / 0.25)


def test_ar1_rollout_is_not_teacher_forced():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(200, 3))
    weights, bias = metrics.fit_ar1(noise, ridge=0.0)
    teacher_forced = np.vstack([noise[:1], noise[:-1] @ weights + bias])
    rolled = metrics.predict_ar1_rollout(noise, ridge=0.0)
    # On white noise a rollout decays to the mean (pVar about 0), and differs from one-step
    # predictions after the first frame.
    assert abs(metrics.pvar(rolled, noise)) < 0.05
    assert not np.allclose(rolled[2:], teacher_forced[2:])


def test_select_ar1_ridge_picks_from_the_grid():
    t = np.arange(120)[:, None]
    series = np.hstack([np.sin(t / 7.0), np.cos(t / 7.0)])  # a rotation: exactly AR(1)
    ridge = metrics.select_ar1_ridge(series, grid=(1e-3, 1e3))
    # A tiny ridge forecasts a clean oscillation; a huge one flattens it.
    assert ridge == 1e-3


def test_heldout_baselines_by_hand():
    train = np.array([[0.0], [1.0], [2.0], [3.0]])
    test = np.array([[4.0], [5.0]])
    predictions = metrics.heldout_baseline_predictions(train, test, ar1_ridge=0.0)
    # Training mean 1.5: errors 2.5, 3.5 -> MSE 9.25; test variance 0.25.
    assert metrics.pvar(predictions["mean"], test) == pytest.approx(1 - 9.25 / 0.25)
    # Last training frame 3: errors 1, 2 -> MSE 2.5.
    assert metrics.pvar(predictions["last_frame"], test) == pytest.approx(1 - 2.5 / 0.25)
    # x[t+1] = x[t] + 1 exactly: the AR(1) forecast is perfect.
    assert predictions["ar1"][:, 0] == pytest.approx([4.0, 5.0])
    assert metrics.pvar(predictions["mean_oracle"], test) == pytest.approx(0.0)


def test_split_train_test():
    assert metrics.split_train_test(620, 0.2) == 496
    with pytest.raises(ValueError, match="heldout_fraction"):
        metrics.split_train_test(620, 1.0)
    with pytest.raises(ValueError, match="at least 2 frames"):
        metrics.split_train_test(5, 0.1)


def test_score_prediction_ignores_flat_neurons_in_the_median():
    target = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 4.0], [2.0, 1.0, 6.0]])
    scores = metrics.score_prediction(target, target)
    assert np.isnan(scores["pvar_per_neuron"][1])
    assert scores["pvar_per_neuron_median"] == pytest.approx(1.0)
    assert scores["pvar"] == pytest.approx(1.0)


def test_fit_ar1_rejects_short_series():
    with pytest.raises(ValueError, match="T >= 2"):
        metrics.fit_ar1(np.zeros((1, 3)))
