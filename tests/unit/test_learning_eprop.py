"""E-prop against exact gradients (float64).

- No recurrence, symmetric feedback: e-prop's learning signal is exact, so its update must equal
  BPTT's gradient to float precision (Bellec et al. 2020).
- With recurrence (or the fed-back output of the activity networks), e-prop must equal BPTT
  through the same network with exactly the paths e-prop ignores (between neurons) detached:
  this checks every eligibility trace.
"""

import pytest
import torch
import torch.nn.functional as F
from helpers.eprop import grads_of, rate_eprop_and_autograd
from neurocircuit.learning import ClassificationTask, SequenceFitTask
from neurocircuit.learning.eprop import (
    eprop_classifier_gradients,
    eprop_spiking_activity_gradients,
    random_feedback,
)
from neurocircuit.models import (
    RateActivityNetwork,
    SpikingActivityNetwork,
    SpikingClassifier,
)
from neurocircuit.models import neurons as nrn


@pytest.fixture(autouse=True, scope="module")
def float64_one_thread():
    previous_threads, previous_dtype = torch.get_num_threads(), torch.get_default_dtype()
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_num_threads(previous_threads)
    torch.set_default_dtype(previous_dtype)


def batch(seed=1, steps=40, size=6, channels=12, classes=4):
    generator = torch.Generator().manual_seed(seed)
    x = (torch.rand(steps, size, channels, generator=generator) < 0.2).double()
    return x, torch.randint(0, classes, (size,), generator=generator)


def assert_same_grads(model, reference, rtol=1e-10):
    for name, parameter in model.named_parameters():
        scale = reference[name].abs().max().clamp(min=1e-300)
        error = (parameter.grad - reference[name]).abs().max() / scale
        assert float(error) < rtol, (name, float(error))
    assert any(float(g.abs().max()) > 0 for g in reference.values())


def assert_spiking(model, x, low=0.02, high=0.6):
    """The classifier spikes on ``x``, in a fraction of neuron-steps in (low, high): e-prop's
    traces, resets and surrogate derivatives are exercised, not a silent (or saturated) layer
    whose gradients would agree trivially."""
    with torch.no_grad():
        rate = float(model(x)[1].mean())
    assert low < rate < high, f"spike rate {rate:.3f} outside ({low}, {high})"


CASES = [  # input scales that keep a fifth to a half of the neuron-steps spiking; Dale's
    # excitatory inputs (W_in >= 0) drive much harder than signed ones of the same size
    ("lif_syn", "zero", False, 0.0, 6.0),
    ("lif_syn", "subtract", True, 0.0, 0.15),
    ("lif", "zero", False, 3.0, 6.0),
    ("lif", "subtract", True, 0.0, 0.5),
    ("alif", "zero", True, 0.0, 0.5),
    ("alif", "subtract", False, 2.0, 6.0),
]


@pytest.mark.parametrize("backend", ["torch", "auto"])  # auto: compiled but for alif
@pytest.mark.parametrize(("neuron", "reset", "dale", "refractory_ms", "input_scale"), CASES)
def test_eprop_equals_bptt_without_recurrence(
    neuron, reset, dale, refractory_ms, input_scale, backend
):
    x, y = batch()
    for surrogate in ("superspike", "triangle"):
        model = SpikingClassifier(
            12, 16, 4, neuron=neuron, reset=reset, recurrent=dale, dale=dale,
            surrogate=surrogate, refractory_ms=refractory_ms, input_scale=input_scale,
            adapt_strength=0.5,
        )  # fmt: skip
        if dale:  # Dale needs recurrence: switched off by the connection mask
            model.set_connection_mask(torch.zeros(16, 16))
        # below 60 % of the most a refractory neuron can fire (one spike per 1 + refractory steps
        # at dt = 1 ms): neurons are often silent when free to spike
        assert_spiking(model, x, high=0.6 / (1 + refractory_ms))
        loss, _ = ClassificationTask().bptt_loss(model, (x, y))
        loss.backward()
        reference = grads_of(model)
        model.zero_grad()
        eprop_loss, _ = eprop_classifier_gradients(model, x, y, backend=backend)
        assert float(eprop_loss) == pytest.approx(float(loss.detach()), rel=1e-12)
        assert_same_grads(model, reference)


def loss_with_detached_recurrence(model, x, y):
    """BPTT reference for e-prop: recurrent spikes enter as detached inputs; each neuron's own
    dependencies (current, membrane, adaptation) keep their gradients."""
    weights = model.effective_weights()
    params = model.neuron_params(None)
    step = model.step_function()
    state = model.initial_state(x.shape[1])
    neuron_state, readout = state.neuron, state.readout.y
    current = F.linear(x, weights["w_in"])
    outputs = []
    for current_t in current.unbind(0):
        drive = current_t + neuron_state.z.detach() @ weights["w_rec"].t()
        z, neuron_state = step(drive, neuron_state, params)
        readout = model.kappa * readout + F.linear(z, weights["w_out"], weights["b_out"])
        outputs.append(readout)
    return F.cross_entropy(torch.stack(outputs).max(dim=0).values, y)


@pytest.mark.parametrize("backend", ["torch", "auto"])
@pytest.mark.parametrize(
    ("neuron", "reset", "dale_mode", "input_scale"),
    [("lif_syn", "zero", "fixed", 0.3), ("lif", "subtract", None, 5.0),
     ("alif", "zero", "learnable_sign", 5.0)],
)  # fmt: skip
def test_eprop_traces_exact_with_recurrence(neuron, reset, dale_mode, input_scale, backend):
    x, y = batch(seed=2)
    model = SpikingClassifier(
        12, 16, 4, neuron=neuron, reset=reset, dale=dale_mode is not None,
        dale_mode=dale_mode or "fixed", input_scale=input_scale, recurrent_scale=2.0,
        adapt_strength=0.5,
    )  # fmt: skip
    assert_spiking(model, x)
    loss_with_detached_recurrence(model, x, y).backward()
    reference = grads_of(model)
    model.zero_grad()
    eprop_classifier_gradients(model, x, y, backend=backend)
    assert_same_grads(model, reference)
    # and it is an approximation: full BPTT differs once neurons are coupled
    model.zero_grad()
    ClassificationTask().bptt_loss(model, (x, y))[0].backward()
    name = "parametrizations.w_in.original" if model.dale else "w_in"
    assert not torch.allclose(grads_of(model)[name], reference[name])


@pytest.mark.parametrize("backend", ["torch", "compiled"])
def test_random_feedback_changes_only_the_hidden_learning_signal(backend):
    x, y = batch(seed=3)
    model = SpikingClassifier(12, 16, 4, recurrent=False, input_scale=6.0)
    assert_spiking(model, x)
    eprop_classifier_gradients(model, x, y, backend=backend)
    symmetric = grads_of(model)
    model.zero_grad()
    feedback = random_feedback(model, seed=0)
    assert feedback.shape == (4, 16)
    eprop_classifier_gradients(model, x, y, feedback, backend=backend)
    torch.testing.assert_close(model.w_out.grad, symmetric["w_out"], rtol=1e-12, atol=0)
    torch.testing.assert_close(model.b_out.grad, symmetric["b_out"], rtol=1e-12, atol=0)
    assert not torch.allclose(model.w_in.grad, symmetric["w_in"])
    assert torch.equal(feedback, random_feedback(model, seed=0))  # fixed: same seed, same matrix
    assert random_feedback(RateActivityNetwork(4), seed=0) is None


def fit_target(steps=30, n=7, seed=4):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(steps, n, generator=generator) * 0.8 + 0.1


@pytest.mark.parametrize("backend", ["torch", "compiled"])
@pytest.mark.parametrize("dale_mode", [None, "fixed", "learnable_sign"])
def test_eprop_rate_network_traces_exact(dale_mode, backend):
    target = fit_target()
    weights = SequenceFitTask().weights(target.shape[0], target)
    model = RateActivityNetwork(
        7, dale=dale_mode is not None, dale_mode=dale_mode or "fixed", weight_scale=2.0
    )
    p = model.effective_parameters()
    r, outputs = target[0:1], [target[0:1]]
    for _ in range(1, target.shape[0]):  # fed-back rates detached in the drive, leak kept
        rate = torch.sigmoid(p["gain"] * (r.detach() @ p["weight"].t()) - p["threshold"])
        r = p["decay"] * r + (1 - p["decay"]) * rate
        outputs.append(r)
    reference, _ = rate_eprop_and_autograd(model, target, weights, outputs, backend)
    assert_same_grads(model, reference)


def ablated_column_mask(n=7, unit=2):
    """Connection mask that removes every connection out of ``unit`` (its column)."""
    mask = torch.ones(n, n)
    mask[:, unit] = 0
    return mask


@pytest.mark.parametrize("backend", ["torch", "compiled"])
@pytest.mark.parametrize(
    ("readout", "reset", "substeps", "ablated"),
    [
        ("full", "zero", 1, False),
        ("diagonal", "subtract", 1, False),
        ("diagonal", "zero", 3, False),
        ("full", "subtract", 3, False),
        ("full", "zero", 1, True),
    ],
)
def test_eprop_spiking_activity_traces_exact(readout, reset, substeps, ablated, backend):
    """The default readout is the diagonal one; the full readout is also checked with an
    ablation mask, which removes W_out's off-diagonal entries together with W's. Each backend's
    rollout is bitwise the model's rollout on the same kind of loop."""
    target = fit_target()
    weights = SequenceFitTask().weights(target.shape[0], target)
    model = SpikingActivityNetwork(
        7, dale=True, readout=readout, reset=reset, steps_per_frame=substeps,
        weight_scale=3.0, bias_current=0.3,
    )  # fmt: skip
    if readout == "full":
        with torch.no_grad():  # off-diagonal readout weights, as after some training
            model.readout_weight += 0.3 * torch.randn(
                7, 7, generator=torch.Generator().manual_seed(5)
            )
    if ablated:
        model.set_connection_mask(ablated_column_mask())
    p = model.effective_parameters()
    params = model.neuron_params()
    state = model.initial_state(target[0:1])
    outputs = [state.output]
    spikes = 0.0
    for _ in range(1, target.shape[0]):
        detached = state._replace(output=state.output.detach())  # fed-back output detached
        current = (model.coupling_input(detached, p["weight"]) + p["bias_current"]) / substeps
        neuron, filtered = state.neuron, state.lowpass
        for _ in range(substeps):
            z, neuron = nrn.lif_syn_step(current, neuron, params)
            _, filtered = nrn.lowpass_step(z, filtered, nrn.LowPassParams(model.kappa))
            spikes += float(z.detach().sum())
        state = state._replace(
            neuron=neuron, lowpass=filtered, output=model.read_out(filtered.r, p)
        )
        outputs.append(state.output)
    assert 0 < spikes < 0.8 * 7 * (target.shape[0] - 1) * substeps, spikes  # not all-firing
    prediction = torch.cat(outputs)
    loss = (weights[:, None] * (prediction - target) ** 2).sum() / (7 * weights.sum())
    loss.backward()
    reference = grads_of(model)
    model.zero_grad()
    eprop_loss, rollout = eprop_spiking_activity_gradients(model, target, weights, backend=backend)
    assert float(eprop_loss) == pytest.approx(float(loss.detach()), rel=1e-12)
    assert_same_grads(model, reference)
    model.backend = backend  # the same loops as the e-prop pass: bitwise
    with torch.no_grad():
        torch.testing.assert_close(
            rollout, model(target[0:1], target.shape[0])[:, 0], rtol=0, atol=0
        )
    if ablated:
        off_diagonal = torch.arange(7) != 2
        assert torch.all(model.readout_weight.grad[off_diagonal, 2] == 0)
        assert float(model.readout_weight.grad[2, 2].abs()) > 0
