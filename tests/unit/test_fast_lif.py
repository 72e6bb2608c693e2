"""The fused kernels give the same spikes, states and gradients as unrolling the library's one
step function (``neurons.lif_syn_step``, ``neurons.leaky_readout_step``) under autograd
(float64: to rounding; float32: to float tolerance), for each speed trick: hand-written BPTT,
sparse input projection, sparse recurrent weight gradient, leaky integrator."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from neurocircuit.models import neurons as nrn
from neurocircuit.models.fast_lif import (
    leaky_integrate,
    lif_syn_recurrent,
    spike_input_projection,
)

ALPHA = math.exp(-1.0 / 5.0)
BETA = math.exp(-1.0 / 10.0)


def stepped_lif_syn(u, weight, alpha, beta, threshold=1.0, reset="zero", scale=100.0):
    """``neurons.lif_syn_step`` unrolled over u (T, B, N) from the zero state: the oracle.

    Returns the spikes (T, B, N) and the distances to threshold v~_t - theta (T, B, N)."""
    params = nrn.LIFSynParams(alpha=alpha, beta=beta, threshold=threshold, reset=reset,
                              surrogate="superspike", surrogate_scale=scale,
                              recurrent_weight=weight)  # fmt: skip
    state = nrn.lif_syn_initial_state(u.shape[1], u.shape[2], dtype=u.dtype)
    spikes, distances = [], []
    for u_t in u.unbind(0):
        z, state, distance = nrn.lif_syn_step(u_t, state, params, return_distance=True)
        spikes.append(z)
        distances.append(distance)
    return torch.stack(spikes), torch.stack(distances)


def plain_lif_syn(u, weight, alpha, beta, threshold=1.0, reset="zero", scale=100.0):
    """Spikes of ``stepped_lif_syn``."""
    return stepped_lif_syn(u, weight, alpha, beta, threshold, reset, scale)[0]


def plain_leaky(current, decay):
    """``neurons.leaky_readout_step`` unrolled over current (T, ...) from zero."""
    state = nrn.LeakyReadoutState(torch.zeros_like(current[0]))
    params = nrn.LeakyReadoutParams(decay)
    out = []
    for c in current.unbind(0):
        y, state = nrn.leaky_readout_step(c, state, params)
        out.append(y)
    return torch.stack(out)


def _problem(dtype, steps=40, batch=6, n=24, drive=0.6, recurrent=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = (torch.randn(steps, batch, n, generator=g, dtype=dtype) * drive).requires_grad_()
    w = None
    if recurrent:
        w = (torch.randn(n, n, generator=g, dtype=dtype) * 0.3).requires_grad_()
    grad_out = torch.randn(steps, batch, n, generator=g, dtype=dtype)
    return u, w, grad_out


def assert_spiking(spikes, low=0.02, high=0.6):
    """The run the test relies on has spikes and silence: a fraction of neuron-steps in
    (low, high) spikes, so thresholds, resets and surrogates are all exercised."""
    rate = float(spikes.detach().float().mean())
    assert low < rate < high, f"spike rate {rate:.3f} outside ({low}, {high})"


def _grads(spikes, grad_out, inputs):
    return torch.autograd.grad((spikes * grad_out).sum(), inputs)


@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_spikes_and_gradients_equal_plain_loop_float64(reset, recurrent, method):
    u, w, grad_out = _problem(torch.float64, recurrent=recurrent)
    inputs = [u] if w is None else [u, w]
    fast = lif_syn_recurrent(u, w, ALPHA, BETA, 1.0, reset, 100.0, method=method)
    plain = plain_lif_syn(u, w, ALPHA, BETA, 1.0, reset)
    assert torch.equal(fast, plain)
    assert_spiking(fast, 0.05, 0.6)
    for got, want in zip(
        _grads(fast, grad_out, inputs), _grads(plain, grad_out, inputs), strict=True
    ):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_many_spikes_float64(reset):
    u, w, grad_out = _problem(torch.float64, drive=3.0, seed=3)
    fast = lif_syn_recurrent(u, w, ALPHA, BETA, 1.0, reset, 100.0, method="sparse")
    plain = plain_lif_syn(u, w, ALPHA, BETA, 1.0, reset)
    assert_spiking(fast, 0.3, 0.9)  # a third of all neuron-steps spike, not all
    assert torch.equal(fast, plain)
    for got, want in zip(
        _grads(fast, grad_out, [u, w]), _grads(plain, grad_out, [u, w]), strict=True
    ):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_float32_matches_plain_loop(reset):
    u, w, grad_out = _problem(torch.float32, steps=30, batch=4, n=16, seed=5)
    fast = lif_syn_recurrent(u, w, ALPHA, BETA, 1.0, reset)
    plain = plain_lif_syn(u, w, ALPHA, BETA, 1.0, reset)
    assert torch.equal(fast, plain)
    assert_spiking(fast)
    for got, want in zip(
        _grads(fast, grad_out, [u, w]), _grads(plain, grad_out, [u, w]), strict=True
    ):
        scale = want.abs().max()
        torch.testing.assert_close(got / scale, want / scale, rtol=0, atol=2e-4)


def test_threshold_surrogate_scale_and_single_step():
    u, w, grad_out = _problem(torch.float64, steps=25, seed=7, drive=1.0)
    fast = lif_syn_recurrent(u, w, 0.5, 0.7, 1.5, "subtract", 10.0)
    plain = plain_lif_syn(u, w, 0.5, 0.7, 1.5, "subtract", 10.0)
    assert torch.equal(fast, plain)
    assert_spiking(fast)  # the raised threshold 1.5 still lets neurons spike
    for got, want in zip(
        _grads(fast, grad_out, [u, w]), _grads(plain, grad_out, [u, w]), strict=True
    ):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    one = u[:1].detach().clone().requires_grad_()
    fast = lif_syn_recurrent(one, w, ALPHA, BETA)
    (gu, gw) = _grads(fast, grad_out[:1], [one, w])
    (pu,) = _grads(plain_lif_syn(one, w, ALPHA, BETA), grad_out[:1], [one])
    torch.testing.assert_close(gu, pu)
    assert torch.count_nonzero(gw) == 0  # one step: no recurrent input yet


def test_gradient_only_for_the_recurrent_weight():
    u, w, grad_out = _problem(torch.float64)
    u = u.detach()
    spikes = lif_syn_recurrent(u, w, ALPHA, BETA)
    assert_spiking(spikes)  # V's gradient needs spikes to carry
    (got,) = _grads(spikes, grad_out, [w])
    (want,) = _grads(plain_lif_syn(u, w, ALPHA, BETA), grad_out, [w])
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def _network(dtype, seed=0, steps=30, batch=8, n_in=90, n=32, n_out=5, p_in=0.05):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(steps, batch, n_in, generator=g) < p_in).to(dtype)
    labels = torch.randint(0, n_out, (batch,), generator=g)
    weights = [
        torch.randn(n, n_in, generator=g, dtype=dtype) * (3.0 / math.sqrt(n_in * p_in)),
        torch.randn(n, n, generator=g, dtype=dtype) * (0.5 / math.sqrt(n)),
        torch.randn(n_out, n, generator=g, dtype=dtype) / math.sqrt(n),
        torch.randn(n_out, generator=g, dtype=dtype) * 0.1,
    ]
    return x, labels, [w.requires_grad_() for w in weights]


def _loss_fast(x, labels, w_in, w_rec, w_out, b_out, method):
    current = spike_input_projection(x, w_in, method=method)
    z = lif_syn_recurrent(current, w_rec, ALPHA, BETA, method=method)
    y = leaky_integrate(F.linear(z, w_out, b_out), BETA)
    return F.cross_entropy(y.max(0).values, labels), z


def _loss_plain(x, labels, w_in, w_rec, w_out, b_out):
    z = plain_lif_syn(F.linear(x, w_in), w_rec, ALPHA, BETA)
    y = plain_leaky(F.linear(z, w_out, b_out), BETA)
    return F.cross_entropy(y.max(0).values, labels), z


@pytest.mark.parametrize("method", ["dense", "sparse", "auto"])
def test_whole_network_loss_and_weight_gradients_equal_plain_loop(method):
    x, labels, weights = _network(torch.float64)
    loss, z = _loss_fast(x, labels, *weights, method)
    loss_ref, z_ref = _loss_plain(x, labels, *weights)
    assert torch.equal(z, z_ref)
    assert_spiking(z, 0.02, 0.5)
    torch.testing.assert_close(loss, loss_ref, rtol=1e-12, atol=0)
    grads = torch.autograd.grad(loss, weights)
    grads_ref = torch.autograd.grad(loss_ref, weights)
    for got, want in zip(grads, grads_ref, strict=True):
        assert torch.count_nonzero(want) > 0
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-13)


def test_whole_network_float32():
    x, labels, weights = _network(torch.float32, seed=2)
    loss, z = _loss_fast(x, labels, *weights, "sparse")
    loss_ref, z_ref = _loss_plain(x, labels, *weights)
    assert torch.equal(z, z_ref)
    assert_spiking(z, 0.02, 0.5)
    torch.testing.assert_close(loss, loss_ref, rtol=1e-5, atol=1e-6)
    for got, want in zip(
        torch.autograd.grad(loss, weights), torch.autograd.grad(loss_ref, weights), strict=True
    ):
        scale = want.abs().max()
        torch.testing.assert_close(got / scale, want / scale, rtol=0, atol=1e-4)


def test_sparse_projection_general_values_and_edge_cases():
    g = torch.Generator().manual_seed(4)
    w = torch.randn(7, 50, generator=g, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(10, 3, 50, generator=g) < 0.08
    graded = torch.randn(10, 3, 50, generator=g, dtype=torch.float64) * mask  # not binary
    graded[0, 0, mask[0, 0].nonzero()[:1, 0]] = -0.0  # a negative zero is found and adds 0
    silent = torch.zeros(10, 3, 50, dtype=torch.float64)
    for x in (graded, mask.double(), silent):
        got = spike_input_projection(x, w, method="sparse")
        want = x @ w.t()
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)
        grad_out = torch.randn(got.shape, generator=g, dtype=torch.float64)
        (gw,) = torch.autograd.grad((got * grad_out).sum(), w)
        (ww,) = torch.autograd.grad((want * grad_out).sum(), w)
        torch.testing.assert_close(gw, ww, rtol=1e-12, atol=1e-14)
    assert torch.autograd.gradcheck(
        lambda weight: spike_input_projection(graded, weight, method="sparse"), (w,)
    )


def test_projection_falls_back_to_dense_for_dense_or_differentiable_inputs():
    g = torch.Generator().manual_seed(6)
    w = torch.randn(4, 12, generator=g, dtype=torch.float64, requires_grad=True)
    dense = torch.randn(5, 2, 12, generator=g, dtype=torch.float64)
    torch.testing.assert_close(spike_input_projection(dense, w), dense @ w.t())
    x = dense.clone().requires_grad_()
    out = spike_input_projection(x, w, method="sparse")
    (gx,) = torch.autograd.grad(out.sum(), x)
    torch.testing.assert_close(gx, w.sum(0).expand_as(x).detach())


def test_leaky_integrate_matches_loop_and_gradcheck():
    g = torch.Generator().manual_seed(8)
    c = torch.randn(15, 3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(leaky_integrate(c, 0.8), plain_leaky(c, 0.8))
    assert torch.autograd.gradcheck(lambda t: leaky_integrate(t, 0.8), (c,))


def test_second_backward_through_the_same_graph_is_refused():
    u, w, grad_out = _problem(torch.float64, steps=5)
    loss = (lif_syn_recurrent(u, w, ALPHA, BETA) * grad_out).sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="once per forward"):
        loss.backward()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_current": torch.zeros(3, 4)}, r"\(T, B, N\)"),
        ({"input_current": torch.zeros(0, 2, 3)}, "no time steps"),
        ({"input_current": torch.zeros(3, 2, 4, dtype=torch.int64)}, "floating point"),
        ({"recurrent_weight": torch.zeros(4, 5)}, r"\(4, 4\) \[post, pre\]"),
        ({"recurrent_weight": torch.zeros(4, 4, dtype=torch.float64)}, "device and dtype"),
        ({"reset": "hard"}, "reset must be one of"),
        ({"alpha": 1.5}, r"alpha is a decay factor"),
        ({"beta": float("nan")}, "beta must be finite"),
        ({"surrogate_scale": 0.0}, "surrogate_scale must be positive"),
        ({"method": "fast"}, "method must be one of"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
    args = {
        "input_current": torch.zeros(3, 2, 4),
        "recurrent_weight": None,
        "alpha": ALPHA,
        "beta": BETA,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        lif_syn_recurrent(**args)


def test_bad_projection_and_integrator_arguments():
    with pytest.raises(ValueError, match="disagree"):
        spike_input_projection(torch.zeros(3, 2, 5), torch.zeros(4, 6))
    with pytest.raises(ValueError, match="method must be one of"):
        spike_input_projection(torch.zeros(3, 2, 5), torch.zeros(4, 5), method="csr")
    with pytest.raises(ValueError, match="decay is a factor"):
        leaky_integrate(torch.zeros(3, 2), -0.1)
    with pytest.raises(ValueError, match="T >= 1"):
        leaky_integrate(torch.zeros(0, 2), 0.5)


def _fused_membrane(spikes):
    """The fused kernel's saved membrane before the spike, v~_t (T, B, N): its state trajectory
    (with the spikes it fixes i_t and v_t too). Read before the backward, which reuses it."""
    return spikes.grad_fn.saved_tensors[1].clone()


@pytest.mark.parametrize(
    ("dtype", "steps", "tolerance"), [(torch.float64, 500, 1e-9), (torch.float32, 300, 2e-4)]
)
@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_fused_forward_and_backward_agree_with_the_step_function_over_many_steps(
    dtype, steps, tolerance, reset
):
    """The fused kernel's hand-written forward and backward cannot call ``lif_syn_step`` (no
    autograd graph, in-place buffers); over hundreds of steps they agree with it: the same
    spikes, the same membrane v~_t at every step, the same gradients for u and V."""
    u, w, grad_out = _problem(dtype, steps=steps, batch=4, n=20, drive=0.5, seed=13)
    fast = lif_syn_recurrent(u, w, ALPHA, BETA, 1.0, reset)
    stepped, distance = stepped_lif_syn(u, w, ALPHA, BETA, 1.0, reset)
    assert torch.equal(fast, stepped)
    assert_spiking(fast, 0.05, 0.6)
    assert_spiking(fast[-50:], 0.01, 0.6)  # spikes to the end
    membrane = _fused_membrane(fast)
    scale = membrane.abs().max()
    torch.testing.assert_close(
        (membrane - 1.0) / scale, distance.detach() / scale, rtol=0, atol=tolerance
    )
    for got, want in zip(
        _grads(fast, grad_out, [u, w]), _grads(stepped, grad_out, [u, w]), strict=True
    ):
        assert torch.count_nonzero(want) > 0
        top = want.abs().max()
        torch.testing.assert_close(got / top, want / top, rtol=0, atol=tolerance)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    x, labels, weights = _network(torch.float64, seed=9)
    loss, z = _loss_fast(x, labels, *weights, "auto")
    grads = torch.autograd.grad(loss, weights)
    cuda_weights = [w.detach().cuda().requires_grad_() for w in weights]
    loss_c, z_c = _loss_fast(x.cuda(), labels.cuda(), *cuda_weights, "auto")
    grads_c = torch.autograd.grad(loss_c, cuda_weights)
    assert torch.equal(z, z_c.cpu())
    assert_spiking(z, 0.02, 0.5)
    torch.testing.assert_close(loss, loss_c.cpu(), rtol=1e-10, atol=0)
    for got, want in zip(grads_c, grads, strict=True):
        torch.testing.assert_close(got.cpu(), want, rtol=1e-9, atol=1e-12)
