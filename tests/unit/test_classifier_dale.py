"""Dale's law in the classifier: signs of the effective weights after training, the fused path
on the effective weights, e-prop against BPTT through the parametrizations, config checks.

Dale's law (``dale=True``): each hidden neuron excitatory or inhibitory (its column of the
recurrent matrix V[post, pre] carries its sign), the input excitatory (W_in >= 0), the readout
free.
"""

from pathlib import Path

import pytest
import torch
from neurocircuit.classification.settings import check_classification_config
from neurocircuit.config import validate_config
from neurocircuit.learning import ClassificationTask
from neurocircuit.learning.eprop import eprop_classifier_gradients
from neurocircuit.models import SpikingClassifier
from torch.nn.utils import parametrize

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
pytestmark = pytest.mark.usefixtures("one_thread")


def batch(seed=1, steps=30, size=8, channels=12, classes=4, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    x = (torch.rand(steps, size, channels, generator=generator) < 0.2).to(dtype)
    return x, torch.randint(0, classes, (size,), generator=generator)


def dale_classifier(**overrides) -> SpikingClassifier:
    options = dict(dale=True, recurrent=True, input_scale=5.0, recurrent_scale=2.0, seed=0)
    options.update(overrides)
    return SpikingClassifier(12, 20, 4, **options)


def scramble_stored_signs(model: SpikingClassifier, seed: int = 7) -> None:
    """Flip the sign of a random half of the stored magnitudes of W_in and V: the effective
    weights stay the same (they use |M|), but the gradient of M is now the effective one times
    sign(M), so a gradient that skips the parametrization is wrong."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name in ("w_in", "w_rec"):
            if not parametrize.is_parametrized(model, name):
                continue
            original = getattr(model.parametrizations, name).original
            flips = torch.rand(original.shape, generator=generator) < 0.5
            original[flips] = -original[flips]


@pytest.mark.parametrize("mode", ["fixed", "learnable_sign"])
@pytest.mark.parametrize("method", ["bptt", "eprop"])
def test_dale_signs_hold_on_the_effective_weights_after_training(mode, method):
    torch.manual_seed(0)
    model = dale_classifier(dale_mode=mode)
    scramble_stored_signs(model)
    initial_sign = model.neuron_sign().clone()
    x, y = batch()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    generator = torch.Generator().manual_seed(3)
    for _ in range(20):  # cross-entropy, plus a pull of every weight towards a random sign
        optimizer.zero_grad()
        weights = model.effective_weights()
        pull = sum(
            (weights[name] * torch.randn(weights[name].shape, generator=generator)).sum()
            for name in ("w_in", "w_rec", "w_out")
        )
        if method == "bptt":
            loss, _ = ClassificationTask().bptt_loss(model, (x, y))
            (loss - pull).backward()
        else:
            (-pull).backward()
            eprop_classifier_gradients(model, x, y)
        optimizer.step()
    weights = {k: v.detach() for k, v in model.effective_weights().items()}
    sign = model.neuron_sign()
    assert set(sign.tolist()) == {-1.0, 1.0}
    if mode == "fixed":
        assert torch.equal(sign, initial_sign)
        assert int((sign > 0).sum()) == 16  # 80 % excitatory
    w_rec = weights["w_rec"]
    assert bool(((w_rec * sign[None, :]) >= 0).all()), "a column of V against its neuron's sign"
    assert bool((w_rec.abs().sum(dim=0) > 0).all()), "a neuron without recurrent output"
    assert bool((w_rec * sign[None, :]).gt(0).any(dim=0).all())
    assert bool((weights["w_in"] >= 0).all()), "a negative input weight"
    assert bool((weights["w_in"].sum(dim=1) > 0).all()), "a neuron without input"
    w_out = weights["w_out"]
    mixed_columns = ((w_out > 0).any(dim=0) & (w_out < 0).any(dim=0)).sum()
    assert int(mixed_columns) > 0, "the readout is constrained: no neuron reads out with both signs"


def test_dale_init_signs_input_and_recurrent_only():
    model = dale_classifier()
    weights = {k: v.detach() for k, v in model.effective_weights().items()}
    sign = model.neuron_sign()
    assert bool((weights["w_in"] > 0).all())
    assert bool(((weights["w_rec"] * sign[None, :]) > 0).all())
    assert bool((weights["w_out"] < 0).any() and (weights["w_out"] > 0).any())
    assert not hasattr(model.parametrizations, "w_out")
    # E–I balance of V at init: inhibitory columns scaled by n_exc / n_inh = 4
    exc, inh = weights["w_rec"][:, sign > 0], -weights["w_rec"][:, sign < 0]
    assert float(inh.mean() / exc.mean()) == pytest.approx(4.0, rel=0.35)


def test_dale_needs_recurrence():
    with pytest.raises(ValueError, match="dale needs recurrent"):
        SpikingClassifier(12, 20, 4, dale=True, recurrent=False)


def test_fused_path_runs_on_the_effective_dale_weights():
    x, y = batch(dtype=torch.float64)
    grads, readouts = [], []
    for fast in (True, False):
        model = dale_classifier(backend="torch" if fast else "reference").double()
        scramble_stored_signs(model)
        assert (model.forward_backend() == "torch") is fast
        loss, _ = ClassificationTask().bptt_loss(model, (x, y))
        loss.backward()
        readouts.append(model(x)[0].detach())
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    torch.testing.assert_close(readouts[0], readouts[1], rtol=1e-10, atol=1e-12)
    assert set(grads[0]) == set(grads[1])
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-8, atol=1e-12)


def eprop_and_bptt_grads(model, x, y):
    ClassificationTask().bptt_loss(model, (x, y))[0].backward()
    bptt = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    eprop_classifier_gradients(model, x, y)
    eprop = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    return eprop, bptt


@pytest.mark.parametrize("neuron", ["lif_syn", "alif"])
def test_eprop_equals_bptt_without_recurrence_and_differs_with_it(neuron):
    x, y = batch(dtype=torch.float64, steps=40)
    model = dale_classifier(neuron=neuron).double()
    scramble_stored_signs(model)
    # recurrence switched off: V masked to zero, so the dynamics are feed-forward and e-prop's
    # gradient, mapped through the input's and V's parametrizations, is BPTT's exactly
    model.set_connection_mask(torch.zeros(20, 20))
    eprop, bptt = eprop_and_bptt_grads(model, x, y)
    assert float(bptt["parametrizations.w_in.original"].abs().max()) > 0
    for name in bptt:
        scale = bptt[name].abs().max().clamp(min=1e-300)
        assert float((eprop[name] - bptt[name]).abs().max() / scale) < 1e-10, name
    # recurrence on: BPTT follows the paths between neurons, e-prop does not
    model.set_connection_mask(torch.ones(20, 20))
    eprop, bptt = eprop_and_bptt_grads(model, x, y)
    name = "parametrizations.w_in.original"
    assert not torch.allclose(eprop[name], bptt[name], rtol=1e-3, atol=0)


def config_section(**definitions):
    classification = {
        "datasets": ["digits"],
        "models": list(definitions),
        "model_settings": dict(definitions),
    }
    return validate_config({"classification": classification}, SCHEMA)["classification"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"dale": True}, "dale: true needs recurrent: true"),
        ({"discretisation": "spytorch", "neuron": "alif"}, "needs neuron: lif_syn"),
        ({"discretisation": "spytorch", "method": "eprop"}, "cannot be trained by e-prop"),
    ],
)
def test_config_check_names_the_model_and_the_conflict(settings, message):
    check_classification_config(config_section(ok={"dale": True, "recurrent": True}))
    with pytest.raises(ValueError, match=f"model 'bad' on digits: .*{message}"):
        check_classification_config(config_section(bad=settings))
