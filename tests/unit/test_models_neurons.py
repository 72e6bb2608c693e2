"""Step functions against hand-computed values; surrogate gradient formulas; the distance and
pseudo-derivative the steps give e-prop."""

import math

import pytest
import torch
from neurocircuit.models import neurons as nrn
from neurocircuit.models.surrogates import (
    SuperSpike,
    TriangleSpike,
    resolve_surrogate_scale,
    spike,
    surrogate_derivative,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def run(step, state, params, inputs):
    """Spikes and states of one neuron over a list of scalar inputs."""
    spikes, states = [], []
    for value in inputs:
        z, state = step(torch.tensor([[value]], dtype=torch.float64), state, params)
        spikes.append(float(z))
        states.append(state)
    return spikes, states


def zeros_state(factory):
    return factory(1, 1, dtype=torch.float64)


def test_decay_is_exact_exponential():
    assert nrn.decay(1.0, 10.0) == pytest.approx(math.exp(-0.1), abs=0)
    with pytest.raises(ValueError, match="tau"):
        nrn.decay(1.0, 0.0)
    with pytest.raises(ValueError, match="dt"):
        nrn.decay(-1.0, 5.0)


@pytest.mark.parametrize(
    ("reset", "expected_spikes", "expected_v"),
    [("zero", [0, 1, 0], [0.6, 0.0, 0.45]), ("subtract", [0, 1, 0], [0.6, 0.38, 0.754])],
)
def test_lif_syn_step_hand_values(reset, expected_spikes, expected_v):
    # i = 0.5 i + u; v~ = 0.8 v + i; u = 0.6, 0.6, 0: i = .6, .9, .45; v~ = .6, 1.38, ...
    params = nrn.LIFSynParams(alpha=0.5, beta=0.8, threshold=1.0, reset=reset)
    spikes, states = run(
        nrn.lif_syn_step, zeros_state(nrn.lif_syn_initial_state), params, [0.6, 0.6, 0.0]
    )
    assert spikes == expected_spikes
    assert [float(s.v) for s in states] == pytest.approx(expected_v, abs=1e-12)
    assert [float(s.i) for s in states] == pytest.approx([0.6, 0.9, 0.45], abs=1e-12)


def test_lif_syn_recurrent_self_connection():
    # a self-weight of 0.5 adds 0.5 * z_{t-1} to the current: step 2 has i = 0.95
    params = nrn.LIFSynParams(
        alpha=0.5, beta=0.8, reset="subtract", recurrent_weight=torch.tensor([[0.5]]).double()
    )
    spikes, states = run(
        nrn.lif_syn_step, zeros_state(nrn.lif_syn_initial_state), params, [0.6, 0.6, 0.0]
    )
    assert float(states[2].i) == pytest.approx(0.95, abs=1e-12)
    assert spikes == [0, 1, 1]  # v~_2 = 0.8 * 0.38 + 0.95 = 1.254


def test_lif_step_hand_values():
    params = nrn.LIFParams(beta=0.8, reset="zero")
    spikes, states = run(nrn.lif_step, zeros_state(nrn.lif_initial_state), params, [0.7, 0.5, 0.2])
    assert spikes == [0, 1, 0]  # v~ = 0.7, 0.56 + 0.5 = 1.06, 0 + 0.2
    assert [float(s.v) for s in states] == pytest.approx([0.7, 0.0, 0.2], abs=1e-12)


def test_alif_step_hand_values():
    # a_t = 0.5 a + z_{t-1}; A = 1 + 0.5 a; v~ = 0.8 v + u; subtract the baseline threshold
    params = nrn.ALIFParams(beta=0.8, rho=0.5, adapt_strength=0.5, reset="subtract")
    spikes, states = run(
        nrn.alif_step, zeros_state(nrn.alif_initial_state), params, [1.2, 0.9, 0.9]
    )
    assert spikes == [1, 0, 1]  # v~ = 1.2 > 1; 1.06 < 1.5; 1.748 > 1.25
    assert [float(s.a) for s in states] == pytest.approx([0.0, 1.0, 0.5], abs=1e-12)
    assert [float(s.v) for s in states] == pytest.approx([0.2, 1.06, 0.748], abs=1e-12)


def test_refractory_period_masks_spikes():
    params = nrn.LIFParams(beta=0.0, reset="zero", refractory_steps=2)
    spikes, _ = run(nrn.lif_step, zeros_state(nrn.lif_initial_state), params, [1.5] * 5)
    assert spikes == [1, 0, 0, 1, 0]


def test_leaky_readout_and_lowpass_hand_values():
    y_state = nrn.LeakyReadoutState(torch.zeros(1, 1, dtype=torch.float64))
    outputs = []
    for value in (1.0, 0.0, 2.0):
        y, y_state = nrn.leaky_readout_step(
            torch.tensor([[value]]).double(), y_state, nrn.LeakyReadoutParams(0.5)
        )
        outputs.append(float(y))
    assert outputs == pytest.approx([1.0, 0.5, 2.25], abs=1e-12)
    r_state = nrn.LowPassState(torch.zeros(1, 1, dtype=torch.float64))
    rates = []
    for value in (1.0, 0.0, 1.0):
        r, r_state = nrn.lowpass_step(
            torch.tensor([[value]]).double(), r_state, nrn.LowPassParams(0.75)
        )
        rates.append(float(r))
    assert rates == pytest.approx([0.25, 0.1875, 0.390625], abs=1e-12)


def test_wilson_cowan_step_hand_value():
    # r = 0.5 * 0.5 + 0.5 * sigmoid(2 * (2 * 0.5) - 1) = 0.25 + 0.5 * sigmoid(1)
    params = nrn.WilsonCowanParams(
        decay=0.5, gain=2.0, threshold=1.0, recurrent_weight=torch.tensor([[2.0]]).double()
    )
    state = nrn.WilsonCowanState(torch.tensor([[0.5]]).double())
    r, _ = nrn.wilson_cowan_step(torch.zeros(1, 1).double(), state, params)
    assert float(r) == pytest.approx(0.25 + 0.5 / (1 + math.exp(-1.0)), abs=1e-12)


def test_wilson_cowan_two_units_three_steps_by_hand():
    """Two units, per-unit decay / gain / threshold, an asymmetric W [post, pre] and an external
    drive, three steps against the update written out in plain floats:
    r_i <- d_i r_i + (1 - d_i) sigmoid(g_i (sum_j W_ij r_j + I_i) - b_i). A transposed W, a gain
    that skips the input, or a decay applied to the wrong term each change the numbers."""
    w = [[0.0, 1.5], [-2.0, 0.5]]
    decay, gain, threshold = [0.6, 0.3], [2.0, 0.5], [0.5, -0.3]
    drive = [[0.2, -0.1], [0.0, 0.4], [-0.3, 0.0]]
    r = [0.2, 0.9]
    expected = []
    for t in range(3):
        new = []
        for i in range(2):
            u = w[i][0] * r[0] + w[i][1] * r[1] + drive[t][i]
            rate = 1.0 / (1.0 + math.exp(-(gain[i] * u - threshold[i])))
            new.append(decay[i] * r[i] + (1.0 - decay[i]) * rate)
        r = new
        expected.append(r)
    f64 = {"dtype": torch.float64}
    params = nrn.WilsonCowanParams(
        decay=torch.tensor(decay, **f64), gain=torch.tensor(gain, **f64),
        threshold=torch.tensor(threshold, **f64), recurrent_weight=torch.tensor(w, **f64),
    )  # fmt: skip
    state = nrn.WilsonCowanState(torch.tensor([[0.2, 0.9]], **f64))
    got = []
    for t in range(3):
        out, state = nrn.wilson_cowan_step(torch.tensor([drive[t]], **f64), state, params)
        assert torch.equal(out, state.r)
        got.append(out[0].tolist())
    assert got == [pytest.approx(row, abs=1e-14) for row in expected]
    # step 1 on paper: u = (1.55, -0.05); g u - b = (2.6, 0.275); sigmoid = (0.93086, 0.56832)
    assert got[0] == pytest.approx([0.6 * 0.2 + 0.4 * 0.93086, 0.3 * 0.9 + 0.7 * 0.56832], abs=1e-5)


def test_superspike_gradient_formula():
    x = torch.tensor([0.01, -0.02, 0.0, 0.5], dtype=torch.float64, requires_grad=True)
    z = SuperSpike.apply(x, 100.0)
    assert z.tolist() == [1.0, 0.0, 0.0, 1.0]  # H(0) = 0: a spike needs v~ > threshold
    z.sum().backward()
    expected = [1 / (1 + 1) ** 2, 1 / (2 + 1) ** 2, 1.0, 1 / (50 + 1) ** 2]
    assert x.grad.tolist() == pytest.approx(expected, abs=1e-15)
    assert surrogate_derivative(x.detach(), "superspike", 100.0).tolist() == pytest.approx(
        expected, abs=1e-15
    )


def test_triangle_gradient_formula():
    x = torch.tensor([0.5, 1.5, -0.25, 1.0], dtype=torch.float64, requires_grad=True)
    TriangleSpike.apply(x, 0.3, 1.0).sum().backward()
    assert x.grad.tolist() == pytest.approx([0.15, 0.0, 0.225, 0.0], abs=1e-15)
    x2 = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    spike(x2, "triangle", 0.3, width=2.0).sum().backward()
    assert float(x2.grad) == pytest.approx(0.3 / 2 * 0.5, abs=1e-15)  # (gamma / w) (1 - |x| / w)


def test_surrogate_names_and_scales_are_checked():
    assert resolve_surrogate_scale("superspike", None) == 100.0
    assert resolve_surrogate_scale("triangle", None) == 0.3
    with pytest.raises(ValueError, match="surrogate must be one of"):
        spike(torch.zeros(1), "sigmoid", 1.0)
    with pytest.raises(ValueError, match="positive"):
        resolve_surrogate_scale("superspike", -1.0)
    with pytest.raises(ValueError, match="triangle's height"):
        resolve_surrogate_scale("triangle", 100.0)


def test_reset_is_detached_and_checked():
    # with the detached reset, d v / d v~ = 1 - z (zero reset), not involving the surrogate
    v_tilde = torch.tensor([[1.5, 0.5]], dtype=torch.float64, requires_grad=True)
    params = nrn.LIFParams(beta=0.0, reset="zero")
    state = nrn.LIFState(torch.zeros(1, 2).double(), torch.zeros(1, 2).double(), torch.zeros(1, 2))
    _, new_state = nrn.lif_step(v_tilde, state, params)
    new_state.v.sum().backward()
    assert v_tilde.grad.tolist() == [[0.0, 1.0]]
    with pytest.raises(ValueError, match="reset must be one of"):
        nrn.lif_step(v_tilde, state, params._replace(reset="hard"))


@pytest.mark.parametrize("surrogate", ["superspike", "triangle"])
@pytest.mark.parametrize(
    ("step", "factory", "params"),
    [
        (nrn.lif_step, nrn.lif_initial_state, nrn.LIFParams(beta=0.9, refractory_steps=2)),
        (nrn.lif_syn_step, nrn.lif_syn_initial_state,
         nrn.LIFSynParams(alpha=0.6, beta=0.9, reset="subtract", refractory_steps=1)),
        (nrn.alif_step, nrn.alif_initial_state,
         nrn.ALIFParams(beta=0.9, rho=0.8, adapt_strength=0.3, refractory_steps=2)),
    ],
)  # fmt: skip
def test_distance_and_pseudo_derivative_are_the_steps_own_surrogate(
    step, factory, params, surrogate
):
    """e-prop's dz/dv~ (``pseudo_derivative`` of the distance a step returns) is the gradient
    autograd takes through the step's spike, refractory mask included."""
    params = params._replace(
        surrogate=surrogate, surrogate_scale=resolve_surrogate_scale(surrogate, None)
    )
    generator = torch.Generator().manual_seed(0)
    state = factory(3, 5, dtype=torch.float64)
    masked = fired = free = free_silent = 0
    for _ in range(12):
        drive = (torch.rand(3, 5, generator=generator, dtype=torch.float64) * 0.6).requires_grad_()
        z, new_state, distance = step(drive, state, params, return_distance=True)
        same_z, _ = step(drive, state, params)
        assert torch.equal(z, same_z)
        (grad,) = torch.autograd.grad(z.sum(), drive)
        # d v~ / d input = 1 for the membrane-only neurons and for i -> v~ with synapses
        psi = nrn.pseudo_derivative(distance.detach(), state.refractory, params)
        torch.testing.assert_close(psi, grad, rtol=1e-12, atol=0)
        masked += int(((state.refractory > 0) & (psi == 0)).sum())
        fired += int(z.detach().sum())
        free += int((state.refractory <= 0).sum())
        free_silent += int(((state.refractory <= 0) & (z == 0)).sum())
        state = type(new_state)(*(t.detach() for t in new_state))
    # spikes and resets happen, and free neurons often stay silent: the surrogate is probed on
    # both sides of the threshold, not on a layer that fires whenever it may
    assert fired / (12 * 3 * 5) > 0.1 and free_silent / free > 0.2, (fired, free_silent, free)
    assert masked > 0  # the refractory mask was exercised
