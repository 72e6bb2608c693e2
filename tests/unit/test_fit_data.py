"""Loading activity files and the paper's preprocessing preset (min-max, smoothing per split)."""

from pathlib import Path

import h5py
import numpy as np
import pytest
from neurocircuit import metrics
from neurocircuit.fit import recording as fit

ZEBRAFISH = (
    Path(__file__).parents[2].parent
    / "shared"
    / "data"
    / "zebrafish"
    / "Stimulus_data_2022_02_23_fish3_1.npy"
)


def write_activity(path, dff, time_s=None):
    with h5py.File(path, "w") as h5:
        h5["dff"] = dff
        if time_s is not None:
            h5["time_s"] = time_s
    return path


def test_load_h5_is_time_major_with_frame_period(tmp_path):
    dff = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = write_activity(tmp_path / "activity.h5", dff, np.arange(4) * 0.5)
    recording = fit.load_activity(path)
    assert recording.traces.shape == (4, 3)
    assert recording.traces[:, 1] == pytest.approx(dff[1])
    assert recording.frame_period_s == pytest.approx(0.5)


def test_load_npy_needs_and_uses_frame_period(tmp_path):
    path = tmp_path / "traces.npy"
    np.save(path, np.ones((2, 6)))
    with pytest.raises(ValueError, match="frame period"):
        fit.load_activity(path)
    recording = fit.load_activity(path, frame_period_s=0.9, max_neurons=1, max_frames=5)
    assert recording.traces.shape == (5, 1)
    assert recording.time_s[-1] == pytest.approx(3.6)


def test_isolated_nan_values_are_interpolated_and_counted(tmp_path):
    dff = np.array([[0.0, np.nan, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0, np.nan]])
    recording = fit.load_activity(write_activity(tmp_path / "a.h5", dff, np.arange(5.0)))
    assert recording.interpolated_values == 2
    assert recording.traces[:, 0] == pytest.approx([0, 1, 2, 3, 4])
    assert recording.traces[-1, 1] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("dff", "message"),
    [
        (np.array([[0.0, 1.0, 2.0, 3.0], [np.nan] * 4]), r"1 neuron row\(s\) have no finite value"),
        (np.zeros((0, 10)), "zero neurons"),
        (np.zeros(10), "2-D"),
        (np.zeros((3, 2)), "only 2 frames"),
    ],
)
def test_bad_activity_files_fail_clearly(tmp_path, dff, message):
    path = write_activity(tmp_path / "bad.h5", dff, None)
    with pytest.raises(ValueError, match=message) as error:
        fit.load_activity(path, frame_period_s=1.0)
    assert "bad.h5" in str(error.value)


def test_missing_dataset_and_file(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as h5:
        h5["F"] = np.zeros((2, 5))
    with pytest.raises(ValueError, match="no 'dff' dataset"):
        fit.load_activity(path)
    with pytest.raises(FileNotFoundError, match="absent.h5"):
        fit.load_activity(tmp_path / "absent.h5")


def test_minmax_global_and_per_neuron():
    traces = np.array([[0.0, 10.0], [2.0, 20.0], [4.0, 30.0]])
    glob = fit.apply_minmax(traces, *fit.minmax_range(traces, "global"))
    assert glob[:, 0] == pytest.approx([0.0, 2 / 30, 4 / 30])
    assert glob[:, 1] == pytest.approx([1 / 3, 2 / 3, 1.0])
    per = fit.apply_minmax(traces, *fit.minmax_range(traces, "per_neuron"))
    assert per[:, 0] == pytest.approx([0, 0.5, 1]) and per[:, 1] == pytest.approx([0, 0.5, 1])
    flat = fit.apply_minmax(np.ones((3, 1)), *fit.minmax_range(np.ones((3, 1)), "per_neuron"))
    assert np.all(flat == 0)
    with pytest.raises(ValueError, match="normalisation"):
        fit.Preprocessing(normalisation="zscore")


def test_smoothing_per_split_does_not_leak():
    rng = np.random.default_rng(0)
    traces = rng.random((100, 3))
    changed = traces.copy()
    changed[80:] += 50.0 * rng.random((20, 3))  # only the held-out frames differ
    preset = fit.Preprocessing(normalisation="global", smoothing_sigma_frames=5.0)
    train_a, test_a = fit.preprocess_split(traces, preset, 80)
    train_b, test_b = fit.preprocess_split(changed, preset, 80)
    assert np.array_equal(train_a, train_b)
    assert not np.allclose(test_a, test_b)
    # The held-out part is smoothed on its own: its first frame ignores the training frames.
    low, high = fit.minmax_range(traces[:80], "global")
    alone = fit.smooth_in_time(fit.apply_minmax(traces[80:], low, high), 5.0)
    assert np.allclose(test_a, alone)
    # Smoothing the whole series first would have leaked: the last training frame changes.
    leaky_a = fit.smooth_in_time(traces, 5.0)[79]
    leaky_b = fit.smooth_in_time(changed, 5.0)[79]
    assert not np.allclose(leaky_a, leaky_b)


def test_training_and_heldout_frames_are_disjoint_by_index_and_cover_the_recording():
    """Frame t of the recording carries t in neuron 0 (and 50 - t in neuron 1). Split without
    smoothing, normalised with the training frames' range, the frame indices read back from
    the two parts are [0, n_train) and [n_train, T), each once and in order: disjoint, and
    together the whole recording. Statistics of all frames would misread them."""
    n_frames = 50
    t = np.arange(n_frames, dtype=np.float64)
    traces = np.stack([t, n_frames - t], axis=1)
    n_train = metrics.split_train_test(n_frames, 0.2)
    assert n_train == 40
    train, test = fit.preprocess_split(traces, fit.Preprocessing("per_neuron", 0.0), n_train)
    low, high = 0.0, n_train - 1.0  # neuron 0's range over the training frames
    train_frames = np.rint(train[:, 0] * (high - low) + low).astype(int).tolist()
    test_frames = np.rint(test[:, 0] * (high - low) + low).astype(int).tolist()
    assert train_frames == list(range(n_train))
    assert test_frames == list(range(n_train, n_frames))
    assert train_frames + test_frames == list(range(n_frames))


@pytest.mark.skipif(not ZEBRAFISH.is_file(), reason=f"zebrafish data absent ({ZEBRAFISH})")
def test_zebrafish_preprocessing_on_the_real_file():
    recording = fit.load_activity(ZEBRAFISH, frame_period_s=0.9)
    assert recording.traces.shape == (620, 522)
    assert recording.interpolated_values == 0
    glob = fit.preprocess(recording.traces, fit.Preprocessing("global", 10.0))
    per = fit.preprocess(recording.traces, fit.Preprocessing("per_neuron", 10.0))
    assert glob.min() >= 0 and glob.max() <= 1
    # The paper's numbers: the time-mean predictor scores about 0.85 with global min-max and
    # about 0.61 with the reference code's per-neuron default (normalise, then smooth).
    assert metrics.baseline_pvar_mean(glob) == pytest.approx(0.847, abs=0.005)
    assert metrics.baseline_pvar_mean(per) == pytest.approx(0.614, abs=0.005)


@pytest.mark.parametrize(
    ("section", "value", "key"),
    [
        ("fit", {"models": ["rate_dale_adam"]}, "fit.models"),
        ("fit", {"defaults": {"preprocessing": {"normalisation": "zscore"}}}, "fit.defaults.pre"),
        ("fit", {"defaults": {"heldout_fraction": 1.5}}, "fit.defaults.heldout_fraction"),
        ("fit", {"defaults": {"training": {"epoch": 3}}}, "fit.defaults.training"),
        ("fit", {"preprocessing": {"normalisation": "zscore"}}, "fit.defaults.pre"),  # old place
        ("fit", {"model_settings": {"rate_dale_bptt": {"trainig": {}}}}, "fit.model_settings"),
        ("fit", {"model_settings": {"rate_dale": {}}}, "fit.model_settings"),
        ("fit", {"dataset_settings": {"zebrafish": {"network": {"rate": {"tau": -1}}}}}, "tau"),
        ("ablation", {"strategies": ["loudest"]}, "ablation.strategies"),
        ("ablation", {"fractions": [0.0, 1.2]}, "ablation.fractions"),
    ],
)
def test_bad_fit_and_ablation_config_names_the_key(section, value, key):
    from neurocircuit.config import ConfigError, validate_config

    schema = Path(__file__).parents[2] / "workflow" / "schemas" / "config.schema.yaml"
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate_config({section: value}, schema)


def test_fit_defaults_are_the_paper_preset():
    from neurocircuit.config import validate_config

    schema = Path(__file__).parents[2] / "workflow" / "schemas" / "config.schema.yaml"
    config = validate_config({}, schema)
    assert config["fit"]["defaults"]["preprocessing"] == {
        "normalisation": "global",
        "smoothing_sigma_frames": 10,
    }
    assert config["fit"]["defaults"]["heldout_fraction"] == 0.2
    assert config["fit"]["defaults"]["ar1_ridge"] is None  # picked on the validation block
    assert config["fit"]["defaults"]["validation_fraction"] == 0.125
    assert len(config["fit"]["models"]) == 9  # 8 BPTT / e-prop models and rate_nodale_force
    assert config["ablation"]["strategies"] == ["random", "weakest", "strongest", "hubs"]


def test_run_settings_layer_defaults_then_dataset_then_model():
    from neurocircuit.config import validate_config
    from neurocircuit.fit.settings import recording_settings, resolve_fit_settings

    schema = Path(__file__).parents[2] / "workflow" / "schemas" / "config.schema.yaml"
    fit_config = validate_config(
        {
            "fit": {
                "defaults": {
                    "training": {"epochs": 100, "lr": 0.01},
                    "network": {"rate": {"tau": 50.0}, "spiking": {"tau_out": 50.0}},
                },
                "dataset_settings": {
                    "zebrafish": {"training": {"epochs": 200}, "network": {"rate": {"tau": 20.0}}}
                },
                "model_settings": {"rate_dale_bptt": {"training": {"epochs": 300}}},
            }
        },
        schema,
    )["fit"]
    # the overrides get no defaults filled in: they only hold what the user wrote
    assert fit_config["model_settings"]["rate_dale_bptt"] == {"training": {"epochs": 300}}
    model = resolve_fit_settings(fit_config, "zebrafish", "rate_dale_bptt")
    assert model["training"]["epochs"] == 300 and model["training"]["lr"] == 0.01
    assert model["network"]["rate"]["tau"] == 20.0  # data set's, deep-merged
    assert model["network"]["spiking"]["tau_out"] == 50.0
    assert model["frame_period_s"] == 0.9
    other = resolve_fit_settings(fit_config, "zebrafish", "rate_nodale_bptt")
    assert other["training"]["epochs"] == 200
    session = resolve_fit_settings(fit_config, "synthetic", "rate_dale_bptt")
    assert session["training"]["epochs"] == 300 and session["network"]["rate"]["tau"] == 50.0
    assert session["frame_period_s"] is None  # activity.h5 stores its time axis
    assert fit_config["defaults"]["training"]["epochs"] == 100  # the config is not modified
    assert recording_settings(model) == {
        "frame_period_s": 0.9,
        "max_neurons": None,
        "max_frames": None,
    }


def test_a_model_on_one_data_set_and_the_old_layout(caplog):
    from neurocircuit.config import validate_config
    from neurocircuit.fit.settings import resolve_fit_settings

    schema = Path(__file__).parents[2] / "workflow" / "schemas" / "config.schema.yaml"
    model = {
        "training": {"epochs": 300},
        "dataset_settings": {"zebrafish": {"training": {"lr": 0.5}}},
    }
    new = validate_config(
        {
            "fit": {
                "defaults": {"training": {"epochs": 100}},
                "model_settings": {"rate_dale_bptt": model},
            }
        },
        schema,
    )["fit"]
    zebrafish = resolve_fit_settings(new, "zebrafish", "rate_dale_bptt")["training"]
    assert (zebrafish["epochs"], zebrafish["lr"]) == (300, 0.5)
    assert resolve_fit_settings(new, "synthetic", "rate_dale_bptt")["training"]["lr"] == 0.01
    with caplog.at_level("WARNING"):
        old = validate_config({"fit": {"training": {"epochs": 100}}}, schema)["fit"]
    assert "fit.{training} is deprecated" in caplog.text
    assert old["defaults"]["training"]["epochs"] == 100 and "training" not in old
    unvalidated = {**old, "training": {"epochs": 7}}  # an old section read as it is
    assert (
        resolve_fit_settings(unvalidated, "zebrafish", "rate_dale_bptt")["training"]["epochs"] == 7
    )
