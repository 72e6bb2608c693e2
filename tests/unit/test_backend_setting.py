"""The one ``backend`` setting: read from the config (fit: network.shared.backend,
classification: backend), given to the models at construction, absent when unset (so the
params of existing runs do not change), and a clear error for a bad value."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from neurocircuit.classification.settings import resolve_run_settings
from neurocircuit.classification.training import build_classifier
from neurocircuit.config import ConfigError, validate_config
from neurocircuit.fit.settings import resolve_fit_settings
from neurocircuit.models.fitted import build_network, load_fitted_model, save_fitted_model
from neurocircuit.models.names import parse_model_name

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


@pytest.mark.parametrize("model", ["rate_dale_bptt", "spiking_nodale_bptt"])
def test_fit_backend_reaches_the_network(model):
    fit = {"defaults": {"network": {"shared": {"backend": "reference"}}}}
    settings = resolve_fit_settings(
        validate_config({"fit": fit}, SCHEMA)["fit"], "zebrafish", model
    )
    network = build_network(parse_model_name(model), 4, settings["network"], seed=0)
    assert network.backend == "reference" and network.init_kwargs["backend"] == "reference"
    unset = resolve_fit_settings(validate_config({}, SCHEMA)["fit"], "zebrafish", model)
    assert "backend" not in unset["network"]["shared"]  # unchanged params for existing runs
    assert build_network(parse_model_name(model), 4, unset["network"], seed=0).backend == "auto"
    with pytest.raises(ConfigError, match="backend"):
        bad = {"defaults": {"network": {"shared": {"backend": "fortran"}}}}
        validate_config({"fit": bad}, SCHEMA)


def test_classification_backend_reaches_the_classifier():
    classification = {"models": ["lif"], "model_settings": {"lif": {"backend": "reference"}}}
    section = validate_config({"classification": classification}, SCHEMA)["classification"]
    settings = resolve_run_settings(section, "digits", "lif")
    assert settings["backend"] == "reference"
    assert build_classifier(settings, 5, 3, seed=0).backend == "reference"
    unset = {"models": ["lif"], "model_settings": {"lif": {}}}
    section = validate_config({"classification": unset}, SCHEMA)["classification"]
    settings = resolve_run_settings(section, "digits", "lif")
    assert "backend" not in settings  # unchanged params for existing runs
    assert build_classifier(settings, 5, 3, seed=0).backend == "auto"
    with pytest.raises(ConfigError, match="backend"):
        bad = {"models": ["lif"], "model_settings": {"lif": {"backend": "compiled"}}}
        validate_config({"classification": bad}, SCHEMA)


def test_a_fitted_model_saved_with_use_fast_path_still_loads(tmp_path):
    """Model files written before the backend setting hold use_fast_path in their kwargs."""
    network = build_network(parse_model_name("rate_dale_bptt"), 4, {}, seed=0)
    path = tmp_path / "model.pt"
    save_fitted_model(network, path, {"note": "old"})
    payload = torch.load(path, weights_only=False)
    del payload["model_kwargs"]["backend"]
    for use_fast_path, backend in ((True, "auto"), (False, "reference")):
        payload["model_kwargs"]["use_fast_path"] = use_fast_path
        torch.save(payload, path)
        with pytest.warns(DeprecationWarning, match="use_fast_path"):
            loaded, metadata = load_fitted_model(path)
        assert loaded.backend == backend and metadata == {"note": "old"}
        assert torch.equal(loaded.recurrent_weight(), network.recurrent_weight())
