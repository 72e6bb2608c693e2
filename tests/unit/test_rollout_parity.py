"""Every backend of ``models.rollout`` against the reference loop of ``models.dynamics``' steps,
over dynamics x backend x dtype: outputs and final states (the activity networks' torch loops
bitwise; the compiled loops and the classifier's ``fast_lif`` kernels to rounding: 1e-13 in
float64, 1e-5 in float32) and float64 gradients against autograd through the reference loop
(relative 1e-10), into every parameter, the drive and the start state. The dynamics that have
only the reference loop are checked against their step run by hand, and the teacher of the
synthetic recordings (``imaging.teacher``, NumPy) against ``wilson_cowan_step`` (1e-12), and
e-prop's forward pass (``learning.eprop``, its torch and compiled loops) against the reference
rollout (torch bitwise, compiled to rounding)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.networks import jitter
from neurocircuit.imaging.teacher import build_teacher, run_teacher, teacher_step
from neurocircuit.learning.eprop import eprop_rate_gradients, eprop_spiking_activity_gradients
from neurocircuit.models import neurons as nrn
from neurocircuit.models.activity import RateActivityNetwork, SpikingActivityNetwork
from neurocircuit.models.rollout import (
    DYNAMICS,
    STEPS,
    available_backends,
    rollout,
    zero_state,
)

pytestmark = pytest.mark.usefixtures("one_thread")

STEPS_T, BATCH, UNITS = 40, 2, 10
TOLERANCE = {torch.float64: 1e-13, torch.float32: 1e-5}
FUSED = [("wilson_cowan", "torch"), ("wilson_cowan", "compiled"),
         ("wilson_cowan_neurotorch", "torch"), ("wilson_cowan_neurotorch", "compiled"),
         ("spiking_activity", "torch"), ("spiking_activity", "compiled"),
         ("spiking_activity_full", "torch"), ("spiking_activity_full", "compiled"),
         ("lif_syn", "torch"), ("leaky_readout", "torch")]  # fmt: skip


def _activity_network(case: str, dtype, backend: str = "auto"):
    """The rate or spiking activity network of ``case``, parameters off their initial values."""
    if case.startswith("wilson_cowan"):
        form = "neurotorch" if case.endswith("neurotorch") else "default"
        network = RateActivityNetwork(UNITS, dale=True, wilson_cowan=form, tau=3.0,
                                      weight_scale=2.0, seed=2, backend=backend)  # fmt: skip
        return jitter(network.to(dtype), scale=0.3)
    readout = "full" if case.endswith("full") else "diagonal"
    network = SpikingActivityNetwork(UNITS, dale=True, readout=readout, weight_scale=3.0,
                                     bias_current=0.3, steps_per_frame=2, seed=2,
                                     backend=backend)  # fmt: skip
    return jitter(network.to(dtype), scale=0.1)


def _activity_case(case: str, dtype):
    """(dynamics, state, params, drive, n_steps, leaves) of an activity network's rollout."""
    x0 = 0.1 + 0.8 * torch.rand(BATCH, UNITS, generator=torch.Generator().manual_seed(0))
    network = _activity_network(case, dtype)
    if case.startswith("wilson_cowan"):
        state = network.initial_state(x0.to(dtype).requires_grad_())
        return network.dynamics, state, network.step_params(), None, STEPS_T, [state.r]
    state = network.initial_state(x0.to(dtype))
    output = state.output.clone().requires_grad_()
    state = state._replace(output=output)
    return "spiking_activity", state, network.frame_params(), None, STEPS_T, [output]


def _layer_case(dynamics: str, dtype):
    """(dynamics, state, params, drive, n_steps, leaves) of a driven layer from the zero state."""
    generator = torch.Generator().manual_seed(3)
    drive = (0.6 * torch.rand(STEPS_T, BATCH, UNITS, generator=generator)).to(dtype)
    drive.requires_grad_()
    recurrent = (0.3 * torch.randn(UNITS, UNITS, generator=generator)).to(dtype).requires_grad_()
    params = {
        "lif": nrn.LIFParams(beta=0.9, recurrent_weight=recurrent),
        "lif_syn": nrn.LIFSynParams(alpha=0.8, beta=0.9, recurrent_weight=recurrent),
        "lif_syn_spytorch": nrn.LIFSynParams(alpha=0.8, beta=0.9, recurrent_weight=recurrent),
        "alif": nrn.ALIFParams(
            beta=0.9, rho=0.95, adapt_strength=0.2, refractory_steps=2, recurrent_weight=recurrent
        ),  # fmt: skip
        "leaky_readout": nrn.LeakyReadoutParams(0.9),
        "spytorch_readout": nrn.SpyTorchReadoutParams(0.8, 0.9),
        "lowpass": nrn.LowPassParams(0.7),
    }[dynamics]
    leaves = [drive, recurrent] if "recurrent_weight" in params._fields else [drive]
    return dynamics, None, params, drive, STEPS_T, leaves


def make_case(case: str, dtype):
    if case.startswith(("wilson_cowan", "spiking_activity")):
        return _activity_case(case, dtype)
    return _layer_case(case, dtype)


def _tensors(state) -> list[torch.Tensor]:
    """The tensors of a (nested) NamedTuple state, in order; [] for None."""
    if isinstance(state, torch.Tensor):
        return [state]
    if isinstance(state, tuple):
        return [t for part in state for t in _tensors(part)]
    return []


def _loss(outputs, state) -> torch.Tensor:
    """A fixed random weighting of the outputs and the final state (so every path counts)."""
    generator = torch.Generator().manual_seed(4)
    total = 0.0
    for tensor in [outputs, *_tensors(state)]:
        weights = torch.randn(tensor.shape, generator=generator, dtype=torch.float64)
        total = total + (tensor * weights.to(tensor.dtype)).sum()
    return total


def _run(case, dtype, backend):
    dynamics, state, params, drive, n_steps, leaves = make_case(case, dtype)
    needs_state = state is not None  # the layers' fused kernels give no final state
    outputs, final = rollout(dynamics, state, params, drive, n_steps, backend,
                             needs_state=needs_state)  # fmt: skip
    available = available_backends(dynamics, state, params, drive, n_steps, needs_state=needs_state)
    return outputs, final, leaves, params, available


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize(("case", "backend"), FUSED)
def test_fused_backends_match_the_reference(case, backend, dtype):
    got, got_state, _, _, available = _run(case, dtype, backend)
    assert backend in available
    want, want_state, _, _, _ = _run(case, dtype, "reference")
    if got_state is None:  # fast_lif: no final state; compare with the reference's outputs
        want_state = None
    bitwise = backend == "torch" and case not in ("lif_syn", "leaky_readout")
    for have, expected in zip([got, *_tensors(got_state)], [want, *_tensors(want_state)],
                              strict=True):  # fmt: skip
        if bitwise or case == "lif_syn":  # spikes: the same where the membranes agree
            assert torch.equal(have.detach(), expected.detach())
        else:
            tol = TOLERANCE[dtype]
            torch.testing.assert_close(have.detach(), expected.detach(), rtol=tol, atol=tol)


@pytest.mark.parametrize(("case", "backend"), FUSED)
def test_fused_gradients_match_autograd(case, backend):
    fused, final, leaves, params, _ = _run(case, torch.float64, backend)
    inputs = leaves + [p for p in _tensors(params) if p.requires_grad]
    got = torch.autograd.grad(_loss(fused, final), inputs)
    reference, reference_final, leaves, params, _ = _run(case, torch.float64, "reference")
    if final is None:  # fast_lif gives no final state: the loss on the outputs alone
        reference_final = None
    inputs = leaves + [p for p in _tensors(params) if p.requires_grad]
    want = torch.autograd.grad(_loss(reference, reference_final), inputs)
    assert len(got) == len(want) >= 1
    for have, expected in zip(got, want, strict=True):
        assert float(expected.abs().max()) > 0
        atol = 1e-10 * float(expected.abs().max())
        torch.testing.assert_close(have, expected, rtol=1e-10, atol=atol)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", [*DYNAMICS, "spiking_activity_full"])
def test_the_reference_backend_is_the_step_loop(case, dtype):
    dynamics, state, params, drive, n_steps, _ = make_case(case, dtype)
    outputs, final = rollout(dynamics, state, params, drive, n_steps, "reference")
    if state is None:
        state = zero_state(dynamics, drive)
    expected = []
    for t in range(n_steps):
        output, state = STEPS[dynamics](None if drive is None else drive[t], state, params)
        expected.append(output)
    assert torch.equal(outputs, torch.stack(expected))
    assert all(torch.equal(a, b) for a, b in zip(_tensors(final), _tensors(state), strict=True))


def test_teacher_step_is_the_wilson_cowan_step():
    """The teacher's NumPy step is ``wilson_cowan_step`` with W r + kick as its drive (gain 1),
    to 1e-12, one step from random rates and 30 noise-free steps of the ring's sequence."""
    rng = np.random.default_rng(0)
    teacher = build_teacher(40, 4, rng=rng)
    decay = np.exp(-0.1 / teacher.tau_s)
    params = nrn.WilsonCowanParams(torch.as_tensor(decay), torch.as_tensor(teacher.gain),
                                   torch.as_tensor(teacher.threshold),
                                   torch.as_tensor(teacher.weight))  # fmt: skip
    assert np.all(teacher.gain == 1.0)
    rates, kick = rng.random(teacher.n_units), rng.normal(0.0, teacher.noise, teacher.n_units)
    state = nrn.WilsonCowanState(torch.as_tensor(rates)[None])
    want, _ = nrn.wilson_cowan_step(torch.as_tensor(kick)[None], state, params)
    got = teacher_step(teacher, rates, decay, kick)
    np.testing.assert_allclose(got, want[0].numpy(), rtol=0, atol=1e-12)
    trajectory = run_teacher(teacher, 31, 0.1, None)
    start = nrn.WilsonCowanState(torch.as_tensor(trajectory[0])[None])
    want, _ = rollout("wilson_cowan", start, params, None, 30, "reference")
    np.testing.assert_allclose(trajectory[1:], want[:, 0].numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("backend", ["torch", "compiled"])
@pytest.mark.parametrize(
    "case", ["wilson_cowan", "wilson_cowan_neurotorch", "spiking_activity", "spiking_activity_full"]
)
def test_eprop_forward_is_the_rollout(case, backend, dtype):
    """E-prop's own forward pass gives the reference rollout (torch loops bitwise)."""
    network = _activity_network(case, dtype, backend)
    target = 0.1 + 0.8 * torch.rand(STEPS_T, UNITS, generator=torch.Generator().manual_seed(5))
    target = target.to(dtype)
    weights = torch.ones(STEPS_T, dtype=dtype)
    if case.startswith("wilson_cowan"):
        _, forward = eprop_rate_gradients(network, target, weights)
    else:
        _, forward = eprop_spiking_activity_gradients(network, target, weights)
    network.backend = "reference"
    with torch.no_grad():
        want = network(target[0:1], STEPS_T)[:, 0]
    if backend == "torch":
        assert torch.equal(forward, want)
    else:
        torch.testing.assert_close(forward, want, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
