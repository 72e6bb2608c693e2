"""E-prop's compiled backend against its torch loops (the reference), and the torch rate loop's
forward against the Wilson–Cowan step functions.

Compiled and torch e-prop compute the same gradients in different orders (per-unit backward
filters and one product over time, against traces carried forward): equal to 1e-10 relative in
float64 and to float32 rounding in float32, for every configuration the activity networks'
e-prop supports. (In float32 each backend is up to about 1e-5 of the largest gradient away
from the float64 result, in opposite directions where sums over time cancel: 3e-5 between
them.)
"""

import pytest
import torch
from neurocircuit.learning import SequenceFitTask
from neurocircuit.learning.eprop import (
    eprop_backend,
    eprop_classifier_gradients,
    eprop_rate_gradients,
    eprop_spiking_activity_gradients,
    random_feedback,
    requested_backend,
)
from neurocircuit.learning.eprop_torch import rate_default_gradients, rate_neurotorch_gradients
from neurocircuit.models import RateActivityNetwork, SpikingActivityNetwork, SpikingClassifier
from neurocircuit.models import neurons as nrn

TOLERANCE = {torch.float64: 1e-10, torch.float32: 3e-5}


def fit_target(dtype, steps=40, n=9, seed=4):
    generator = torch.Generator().manual_seed(seed)
    target = torch.rand(steps, n, generator=generator, dtype=torch.float64) * 0.8 + 0.1
    return target.to(dtype)


def gradients(model, run, backend):
    """(loss, rollout, {parameter name: gradient}) of one e-prop call on ``backend``."""
    model.zero_grad()
    loss, rollout = run(backend)
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return loss, rollout, grads


def assert_backends_agree(model, run, dtype):
    """The compiled backend's loss, rollout and every gradient against the torch loops'."""
    rtol = TOLERANCE[dtype]
    loss, rollout, reference = gradients(model, run, "torch")
    compiled_loss, compiled_rollout, grads = gradients(model, run, "compiled")
    assert float(compiled_loss) == pytest.approx(float(loss), rel=rtol)
    torch.testing.assert_close(compiled_rollout, rollout, rtol=rtol, atol=rtol)
    assert set(grads) == set(reference)
    for name, grad in grads.items():
        assert grad.dtype == dtype
        scale = reference[name].abs().max()
        assert float(scale) > 0, name
        error = float((grad - reference[name]).abs().max() / scale)
        assert error < rtol, (name, error)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("dale", [False, True])
@pytest.mark.parametrize("form", ["default", "neurotorch"])
def test_compiled_rate_eprop_equals_torch_loops(form, dale, dtype):
    target = fit_target(dtype)
    weights = SequenceFitTask().weights(target.shape[0], target)
    model = RateActivityNetwork(
        9, dale=dale, wilson_cowan=form, weight_scale=2.0, tau=3.0, threshold=0.5
    ).to(dtype)

    def run(backend):
        return eprop_rate_gradients(model, target, weights, backend=backend)

    assert_backends_agree(model, run, dtype)


SPIKING_CASES = [  # readout, reset, sub-steps, random feedback
    ("diagonal", "zero", 1, False),
    ("diagonal", "subtract", 1, False),
    ("diagonal", "zero", 3, False),
    ("diagonal", "subtract", 3, False),
    ("full", "zero", 1, False),
    ("full", "subtract", 3, False),
    ("full", "zero", 3, True),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("readout", "reset", "substeps", "random"), SPIKING_CASES)
def test_compiled_spiking_eprop_equals_torch_loops(readout, reset, substeps, random, dtype):
    target = fit_target(dtype)
    weights = SequenceFitTask().weights(target.shape[0], target)
    model = SpikingActivityNetwork(
        9, dale=True, readout=readout, reset=reset, steps_per_frame=substeps,
        weight_scale=3.0, bias_current=0.3, surrogate_scale=10.0,
    ).to(dtype)  # fmt: skip
    if readout == "full":
        with torch.no_grad():  # off-diagonal readout weights, as after some training
            noise = torch.randn(9, 9, generator=torch.Generator().manual_seed(5))
            model.readout_weight += 0.3 * noise.to(dtype)
    feedback = random_feedback(model, seed=1) if random else None

    def run(backend):
        return eprop_spiking_activity_gradients(model, target, weights, feedback, backend=backend)

    rate = spike_rate(model, target)  # the units spike, but not at every sub-step
    assert 0.05 < rate < 0.8, rate
    assert_backends_agree(model, run, dtype)


def spike_rate(model, target) -> float:
    """Fraction of unit-sub-steps with a spike in the plain loop's rollout from target[0]."""
    params, p = model.neuron_params(), model.effective_parameters()
    state = model.initial_state(target[0:1])
    neuron, count = state.neuron, 0.0
    with torch.no_grad():
        for _ in range(1, target.shape[0]):
            current = (model.coupling_input(state, p["weight"]) + p["bias_current"]) / (
                model.steps_per_frame
            )
            filtered = state.lowpass
            for _ in range(model.steps_per_frame):
                z, neuron = nrn.lif_syn_step(current, neuron, params)
                _, filtered = nrn.lowpass_step(z, filtered, nrn.LowPassParams(model.kappa))
                count += float(z.sum())
            state = state._replace(neuron=neuron, lowpass=filtered,
                                   output=model.read_out(filtered.r, p))  # fmt: skip
    return count / (target.numel() - target.shape[1]) / model.steps_per_frame


CLASSIFIER_CASES = [  # neuron, reset, recurrent, Dale, refractory (ms), random feedback
    ("lif_syn", "zero", True, True, 0.0, False),
    ("lif_syn", "subtract", False, False, 2.0, True),
    ("lif", "zero", True, False, 3.0, False),
    ("lif", "subtract", True, True, 0.0, True),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(
    ("neuron", "reset", "recurrent", "dale", "refractory_ms", "random"), CLASSIFIER_CASES
)
def test_compiled_classifier_eprop_equals_torch_loops(
    neuron, reset, recurrent, dale, refractory_ms, random, dtype
):
    generator = torch.Generator().manual_seed(2)
    x = (torch.rand(50, 5, 12, generator=generator) < 0.2).to(dtype)
    labels = torch.randint(0, 4, (5,), generator=generator)
    model = SpikingClassifier(
        12, 16, 4, neuron=neuron, reset=reset, recurrent=recurrent, dale=dale,
        refractory_ms=refractory_ms, input_scale=0.5 if dale else 5.0, recurrent_scale=2.0,
    ).to(dtype)  # fmt: skip
    feedback = random_feedback(model, seed=3) if random else None
    with torch.no_grad():
        rate = float(model(x)[1].mean())
    assert 0.02 < rate < 0.6 / (1 + refractory_ms), rate

    def run(backend):
        return eprop_classifier_gradients(model, x, labels, feedback, backend=backend)

    assert_backends_agree(model, run, dtype)


def test_compiled_classifier_eprop_needs_factorised_traces():
    x = torch.zeros(5, 2, 12)
    model = SpikingClassifier(12, 16, 4, neuron="alif")
    with pytest.raises(ValueError, match="not alif"):
        eprop_classifier_gradients(model, x, torch.zeros(2, dtype=torch.long), backend="compiled")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("form", ["default", "neurotorch"])
def test_torch_rate_eprop_forward_is_the_wilson_cowan_step(form, dtype):
    """The torch e-prop loop writes the Wilson–Cowan update inline: it must be the step
    function of its form (``neurons.wilson_cowan_step`` / ``wilson_cowan_neurotorch_step``),
    bitwise, step for step."""
    target = fit_target(dtype)
    weights = SequenceFitTask().weights(target.shape[0], target)
    model = RateActivityNetwork(9, dale=True, wilson_cowan=form, weight_scale=2.0).to(dtype)
    p = {k: v.detach() for k, v in model.effective_parameters().items()}
    loop = rate_neurotorch_gradients if form == "neurotorch" else rate_default_gradients
    _, rollout, _ = loop(p, target, weights, target.shape[1] * weights.sum())
    params, step = model.step_params(p), model.step_function()
    state = nrn.WilsonCowanState(target[0:1])
    for t in range(1, target.shape[0]):
        r, state = step(torch.zeros_like(state.r), state, params)
        assert torch.equal(rollout[t], r[0]), t


def test_backend_choice_and_errors():
    cpu32, cpu64 = torch.zeros(2), torch.zeros(2, dtype=torch.float64)
    half = torch.zeros(2, dtype=torch.float16)
    assert eprop_backend("auto", cpu32, cpu32) == "compiled"
    assert eprop_backend("auto", cpu64) == "compiled"
    assert eprop_backend("auto", half) == "torch"
    assert eprop_backend("auto", cpu32, cpu64) == "torch"  # mixed dtypes
    assert eprop_backend("torch", cpu64) == eprop_backend("reference", cpu64) == "torch"
    with pytest.raises(ValueError, match="float32 or float64"):
        eprop_backend("compiled", half)
    with pytest.raises(ValueError, match="backend must be one of"):
        eprop_backend("numba", cpu32)
    target = fit_target(torch.float32)
    model = RateActivityNetwork(9)
    with pytest.raises(ValueError, match="backend must be one of"):
        eprop_rate_gradients(model, target, torch.ones(40), backend="fast")
    assert requested_backend(model, "torch") == "torch"
    assert requested_backend(object(), None) == "auto"  # a model without a backend setting
    model.backend = "reference"  # the model's own setting, where none is given
    assert requested_backend(model, None) == "reference"
