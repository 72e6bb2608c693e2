"""The fused rollouts of the activity networks (``models.fast_activity``) against the plain loop
of step functions under autograd (backend "reference"), with both kinds of time loop (backend
"torch" and "compiled"): the torch loops give bitwise the same outputs and spikes, the compiled
loops of ``activity_kernels`` the same to rounding (float64: 1e-13); gradients equal to 1e-10
(relative, float64) for every parameter and for the start and final states, with and without
Dale's law, for full and truncated BPTT, on trajectories where the rate units are away from
saturation and where some but not all spiking units fire."""

from __future__ import annotations

import pytest
import torch
from helpers.networks import jitter
from neurocircuit.learning import SequenceFitTask
from neurocircuit.models import fast_activity
from neurocircuit.models import neurons as nrn
from neurocircuit.models.activity import RateActivityNetwork, SpikingActivityNetwork
from neurocircuit.models.backend import choose_backend
from neurocircuit.models.rollout import available_backends

pytestmark = pytest.mark.usefixtures("one_thread")

RTOL = 1e-10
STEPS, UNITS = 60, 12


def fit_target(steps=STEPS, n=UNITS, seed=0, dtype=torch.float64):
    """A recording-like target (T, N) in [0.1, 0.9]."""
    generator = torch.Generator().manual_seed(seed)
    return (0.1 + 0.8 * torch.rand(steps, n, generator=generator)).to(dtype)


def rate_network(form="default", dale=True, dale_mode="fixed", **kwargs):
    network = RateActivityNetwork(
        UNITS, dale=dale, dale_mode=dale_mode, wilson_cowan=form, tau=3.0, weight_scale=2.0,
        seed=2, **kwargs,
    ).double()  # fmt: skip
    return jitter(network)


def spiking_network(readout="diagonal", dale=True, **kwargs):
    network = SpikingActivityNetwork(
        UNITS, dale=dale, readout=readout, weight_scale=3.0, bias_current=0.3, seed=2, **kwargs
    ).double()
    jitter(network, scale=0.1)
    if readout == "full":
        generator = torch.Generator().manual_seed(3)
        with torch.no_grad():  # off-diagonal readout weights, as after some training
            noise = torch.randn(UNITS, UNITS, generator=generator, dtype=torch.float64)
            network.readout_weight.add_(0.3 * noise)
    return network


@pytest.fixture(params=["compiled", "torch"])
def backend(request):
    return request.param


def assert_same_outputs(got, want, backend, rtol=1e-13):
    """Bitwise for the torch loops; to rounding for the compiled ones."""
    if backend == "torch":
        assert torch.equal(got, want)
    else:
        torch.testing.assert_close(got, want, rtol=rtol, atol=rtol)


def twin(network):
    """The same network on the plain loop (backend "reference"), same parameters."""
    kwargs = dict(network.init_kwargs, backend="reference")
    cls = (
        RateActivityNetwork if isinstance(network, RateActivityNetwork) else SpikingActivityNetwork
    )
    plain = cls(kwargs.pop("n_units"), **kwargs).to(next(network.parameters()).dtype)
    plain.load_state_dict(network.state_dict())
    return plain


def gradients(network) -> dict[str, torch.Tensor]:
    return {name: p.grad.clone() for name, p in network.named_parameters() if p.grad is not None}


def assert_same_gradients(fused: dict, plain: dict, rtol=RTOL):
    assert fused.keys() == plain.keys() and plain
    for name, want in plain.items():
        assert float(want.abs().max()) > 0, name
        atol = rtol * float(want.abs().max())
        torch.testing.assert_close(fused[name], want, rtol=rtol, atol=atol, msg=name)


def bptt_gradients(network, target):
    network.zero_grad()
    loss, _ = SequenceFitTask().bptt_loss(network, target)
    loss.backward()
    return gradients(network)


def rate_sigmoids(network, target):
    """sigmoid(g W r - b) along the plain rollout from target[0] (T - 1, N)."""
    p = network.effective_parameters()
    with torch.no_grad():
        rates = twin(network)(target[0:1], target.shape[0])[:-1, 0]
        return torch.sigmoid(p["gain"] * (rates @ p["weight"].t()) - p["threshold"])


def spike_fraction(network, target):
    """Fraction of unit-frames whose last sub-step spikes, in the plain rollout."""
    plain = twin(network)
    spikes = []
    with torch.no_grad():
        state = plain.initial_state(target[0:1])
        for _ in range(target.shape[0] - 1):
            _, state = plain.rollout(state, 1)
            spikes.append(state.neuron.z)
    return float(torch.stack(spikes).mean())


RATE_CASES = [
    ("default", True, "fixed"),
    ("default", True, "learnable_sign"),
    ("default", False, "fixed"),
    ("neurotorch", True, "fixed"),
    ("neurotorch", False, "fixed"),
]


@pytest.mark.parametrize(("form", "dale", "dale_mode"), RATE_CASES)
def test_rate_rollout_outputs_and_bptt_gradients(form, dale, dale_mode, backend):
    network = rate_network(form, dale, dale_mode)
    network.backend = backend
    plain = twin(network)
    target = fit_target()
    sig = rate_sigmoids(network, target)
    away = ((sig > 0.05) & (sig < 0.95)).double().mean()
    assert float(away) > 0.9, float(away)  # the units are away from saturation
    state = network.initial_state(target[0:1])
    params = network.step_params()
    assert backend in available_backends(network.dynamics, state, params, None, STEPS)
    assert plain.backend == "reference"
    with torch.no_grad():
        assert_same_outputs(network(target[0:1], STEPS), plain(target[0:1], STEPS), backend)
    assert_same_gradients(bptt_gradients(network, target), bptt_gradients(plain, target))


SPIKING_CASES = [
    # readout, reset, steps_per_frame, surrogate
    ("diagonal", "zero", 1, "superspike"),
    ("diagonal", "subtract", 3, "triangle"),
    ("full", "zero", 1, "superspike"),
    ("full", "subtract", 2, "superspike"),
]


@pytest.mark.parametrize("dale", [True, False])
@pytest.mark.parametrize(("readout", "reset", "substeps", "surrogate"), SPIKING_CASES)
def test_spiking_rollout_outputs_and_bptt_gradients(
    readout, reset, substeps, surrogate, dale, backend
):
    network = spiking_network(readout, dale, reset=reset, steps_per_frame=substeps,
                              surrogate=surrogate)  # fmt: skip
    network.backend = backend
    plain = twin(network)
    target = fit_target()
    rate = spike_fraction(network, target)
    assert 0.05 < rate < 0.8, rate  # spikes occur, and not everywhere
    with torch.no_grad():
        assert_same_outputs(network(target[0:1], STEPS), plain(target[0:1], STEPS), backend)
    assert_same_gradients(bptt_gradients(network, target), bptt_gradients(plain, target))


@pytest.mark.parametrize(
    "make",
    [
        lambda: rate_network("default"),
        lambda: rate_network("neurotorch", dale=False),
        lambda: spiking_network("diagonal"),
        lambda: spiking_network("full", steps_per_frame=2, reset="subtract"),
    ],
)
def test_truncated_bptt_gradients(make):
    """SequenceFitTask's truncated BPTT (windows of 7 frames, the state detached between them,
    one backward per window) gives the plain loop's gradients, and differs from full BPTT."""
    network = make()
    plain = twin(network)
    target = fit_target()
    task = SequenceFitTask()
    stats = {}
    for name, model in (("fused", network), ("plain", plain)):
        model.zero_grad()
        stats[name] = task.tbptt_backward(model, target, 7)
    assert stats["fused"]["loss"] == pytest.approx(stats["plain"]["loss"], rel=1e-14)
    truncated = gradients(network)
    assert_same_gradients(truncated, gradients(plain))
    full = bptt_gradients(network, target)
    assert any(not torch.allclose(truncated[k], full[k], rtol=1e-6) for k in full)


def chained_loss(network, x0, generator):
    """Two rollouts in a row without detaching, a loss on both outputs and on every tensor of
    the final state: gradients flow into the start state and out of the final one."""
    first, state = network.rollout(network.initial_state(x0), 9)
    second, state = network.rollout(state, 11)

    def weighted(tensor):
        weights = torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype)
        return (tensor * weights).sum()

    loss = weighted(first) + weighted(second.square())
    if isinstance(state, nrn.WilsonCowanState):
        return loss + weighted(state.r)
    final = (state.neuron.v, state.neuron.i, state.neuron.z, state.lowpass.r, state.output)
    return loss + sum(weighted(tensor) for tensor in final)


@pytest.mark.parametrize(
    "make",
    [
        lambda: rate_network("default"),
        lambda: rate_network("neurotorch"),
        lambda: spiking_network("diagonal"),
        lambda: spiking_network("full", steps_per_frame=3),
        lambda: spiking_network("diagonal", reset="subtract", surrogate="triangle"),
    ],
)
def test_start_and_final_state_gradients(make):
    network = make()
    x0 = 0.1 + 0.8 * torch.rand(3, UNITS, generator=torch.Generator().manual_seed(4))
    results = {}
    for name, model in (("fused", network), ("plain", twin(network))):
        start = x0.double().requires_grad_()
        model.zero_grad()
        chained_loss(model, start, torch.Generator().manual_seed(5)).backward()
        results[name] = {**gradients(model), "x0": start.grad}
    assert_same_gradients(results["fused"], results["plain"])


def test_spiking_start_state_gradients_of_every_tensor():
    """dL/d(v, i, r, y) at the start of a rollout, against the plain loop (the start state the
    network builds has v = i = 0 and r detached; here every tensor of it is a free leaf)."""
    generator = torch.Generator().manual_seed(6)
    results = {}
    network = spiking_network("diagonal", steps_per_frame=2)
    start = [0.5 * torch.rand(2, UNITS, generator=generator, dtype=torch.float64)
             for _ in range(4)]  # fmt: skip
    weights = torch.randn(15, 2, UNITS, generator=generator, dtype=torch.float64)
    for name, model in (("fused", network), ("plain", twin(network))):
        leaves = [t.clone().requires_grad_() for t in start]
        v, i, r, y = leaves
        zeros = torch.zeros_like(v)
        state = type(model.initial_state(y.detach()))(
            nrn.LIFSynState(v, i, zeros, zeros), nrn.LowPassState(r), y
        )
        outputs, _ = model.rollout(state, 15)
        (outputs * weights).sum().backward()
        results[name] = {f"start{k}": leaf.grad for k, leaf in enumerate(leaves)}
    assert_same_gradients(results["fused"], results["plain"])


def test_float32_matches_the_plain_loop(backend):
    target = fit_target(dtype=torch.float32)
    for network in (rate_network().float(), spiking_network().float()):
        network.backend = backend
        plain = twin(network)
        with torch.no_grad():
            got, want = network(target[0:1], STEPS), plain(target[0:1], STEPS)
            assert_same_outputs(got, want, backend, rtol=1e-5)
        assert_same_gradients(
            bptt_gradients(network, target), bptt_gradients(plain, target), rtol=1e-4
        )


def test_where_the_fused_path_applies():
    network = rate_network()
    x = torch.rand(1, UNITS, dtype=torch.float64)
    params = network.step_params()
    state = network.initial_state(x)
    assert available_backends("wilson_cowan", state, params, None, 3) == (
        "compiled", "torch", "reference",
    )  # fmt: skip
    mixed = network.initial_state(x.float())  # mixed dtypes: the reference loop only
    assert available_backends("wilson_cowan", mixed, params, None, 3) == ("reference",)
    drive = torch.zeros(3, 1, UNITS, dtype=torch.float64)  # an external drive: reference only
    assert available_backends("wilson_cowan", state, params, drive) == ("reference",)
    assert available_backends("wilson_cowan", state, params, None, 0) == ("reference",)
    half = params._replace(recurrent_weight=params.recurrent_weight.half())
    assert available_backends("wilson_cowan", network.initial_state(x.half()), half, None, 3) == (
        "reference",
    )
    assert choose_backend("auto", ("compiled", "torch", "reference")) == "compiled"
    assert choose_backend("torch", ("compiled", "torch", "reference")) == "torch"
    assert choose_backend("torch", ("reference",)) == "reference"
    with pytest.raises(ValueError, match="compiled backend runs on the CPU only"):
        choose_backend("compiled", ("torch", "reference"), "cuda:0")
    with pytest.raises(ValueError, match="backend must be one of"):
        RateActivityNetwork(UNITS, backend="fortran")


def test_the_deprecated_switches_still_select_the_same_loops():
    """use_fast_path (True: "auto", False: "reference") and the kernels attribute are still
    read, with a DeprecationWarning."""
    with pytest.warns(DeprecationWarning, match="use_fast_path"):
        plain = RateActivityNetwork(UNITS, use_fast_path=False)
    assert plain.backend == "reference" and not plain.use_fast_path
    network = rate_network()
    assert network.backend == "auto" and network.use_fast_path
    with pytest.warns(DeprecationWarning, match="kernels"):
        network.kernels = "torch"
    assert network.backend == "torch" and network.kernels == "torch"
    with pytest.warns(DeprecationWarning, match="use_fast_path"):
        network.use_fast_path = False
    assert network.backend == "reference"
    with pytest.raises(ValueError, match="not both"):
        RateActivityNetwork(UNITS, backend="torch", use_fast_path=True)


def test_external_input_keeps_the_plain_loop():
    """A rollout with an external drive runs the step functions (no fused kernel for it)."""
    network = rate_network()
    state = network.initial_state(torch.rand(2, UNITS, dtype=torch.float64))
    drive = torch.randn(5, 2, UNITS, dtype=torch.float64)
    with torch.no_grad():
        outputs, _ = network.rollout(state, 5, external_input=drive)
        expected, reference = [], state
        for t in range(5):
            r, reference = nrn.wilson_cowan_step(drive[t], reference, network.step_params())
            expected.append(r)
    assert torch.equal(outputs, torch.stack(expected))


def test_no_double_backward():
    """The hand-written backward is not itself differentiable: second derivatives raise."""
    network = rate_network()
    target = fit_target(steps=10)
    loss, _ = SequenceFitTask().bptt_loss(network, target)
    (grad,) = torch.autograd.grad(loss, [network.threshold], create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable|differentiate"):
        grad.sum().backward()


def test_bad_arguments():
    p = rate_network().effective_parameters()
    x = torch.rand(1, UNITS, dtype=torch.float64)
    with pytest.raises(ValueError, match="form"):
        fast_activity.rate_rollout(x, p, 3, form="other")
    with pytest.raises(ValueError, match="n_steps"):
        fast_activity.rate_rollout(x, p, 0)
    with pytest.raises(ValueError, match="kernels"):
        fast_activity.rate_rollout(x, p, 3, kernels="fortran")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("make", [lambda: rate_network(), lambda: spiking_network("full")])
def test_cuda_matches_the_plain_loop_on_the_cpu(make):
    network = make()
    target = fit_target()
    plain = twin(network)
    want = bptt_gradients(plain, target)
    network.cuda()
    got = bptt_gradients(network, target.cuda())
    with torch.no_grad():
        torch.testing.assert_close(
            network(target[0:1].cuda(), STEPS).cpu(), plain(target[0:1], STEPS),
            rtol=0, atol=1e-12,
        )  # fmt: skip
    assert_same_gradients({k: v.cpu() for k, v in got.items()}, want, rtol=1e-9)
