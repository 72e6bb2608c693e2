"""The two discretisations of the LIF neuron with synaptic current and its readout, against
values stepped by hand (alpha = 0.5, beta = kappa = 0.75, threshold 1).

default  (neurons.lif_syn_step):  i_t = a i_{t-1} + u_t;  v~_t = b v_{t-1} + i_t;
         z_t = H(v~_t - 1);  v_t = v~_t (1 - z_t).
spytorch (neurons.lif_syn_spytorch_step):  z_t = H(v_{t-1} - 1);  i_t = a i_{t-1} + u_t;
         v_t = (b v_{t-1} + i_{t-1}) (1 - z_t).
"""

import pytest
import torch
from neurocircuit.learning.eprop import eprop_classifier_gradients
from neurocircuit.models import SpikingClassifier
from neurocircuit.models import neurons as nrn

pytestmark = pytest.mark.usefixtures("one_thread")

ALPHA, BETA = 0.5, 0.75
# two neurons, four steps: neuron 0 gets one strong kick, neuron 1 two weaker ones
INPUT = torch.tensor([[1.5, 0.5], [0.0, 0.5], [0.0, 0.0], [0.0, 0.0]], dtype=torch.float64)


def run(step, inputs, reset="zero", recurrent_weight=None):
    params = nrn.LIFSynParams(
        alpha=ALPHA, beta=BETA, reset=reset, recurrent_weight=recurrent_weight
    )
    state = nrn.lif_syn_initial_state(1, 2, dtype=torch.float64)
    spikes, membranes, currents = [], [], []
    for u_t in inputs.unbind(0):
        z, state = step(u_t[None], state, params)
        spikes.append(z[0])
        membranes.append(state.v[0])
        currents.append(state.i[0])
    return torch.stack(spikes), torch.stack(membranes), torch.stack(currents)


def test_default_step_by_hand():
    # neuron 0: i = 1.5, v~ = 1.5 -> spike, v = 0 | i = .75, v = .75 | i = .375,
    #   v = .5625 + .375 = .9375 | i = .1875, v = .703125 + .1875 = .890625
    # neuron 1: i = .5, v = .5 | i = .75, v~ = .375 + .75 = 1.125 -> spike, v = 0 |
    #   i = .375, v = .375 | i = .1875, v = .28125 + .1875 = .46875
    z, v, i = run(nrn.lif_syn_step, INPUT)
    assert z.tolist() == [[1, 0], [0, 1], [0, 0], [0, 0]]
    assert v.tolist() == [[0, 0.5], [0.75, 0], [0.9375, 0.375], [0.890625, 0.46875]]
    assert i.tolist() == [[1.5, 0.5], [0.75, 0.75], [0.375, 0.375], [0.1875, 0.1875]]


def test_spytorch_step_by_hand():
    # neuron 0: z = H(0 - 1) = 0, v = 0 + i_0 = 0, i = 1.5 | z = 0, v = 0 + 1.5 = 1.5, i = .75 |
    #   z = H(1.5 - 1) = 1, v = (1.125 + .75) * 0 = 0, i = .375 | z = 0, v = .375, i = .1875
    # neuron 1: v = 0, i = .5 | v = .5, i = .75 | z = H(.5 - 1) = 0, v = .375 + .75 = 1.125,
    #   i = .375 | z = H(1.125 - 1) = 1, v = (.84375 + .375) * 0 = 0, i = .1875
    z, v, i = run(nrn.lif_syn_spytorch_step, INPUT)
    assert z.tolist() == [[0, 0], [0, 0], [1, 0], [0, 1]]
    assert v.tolist() == [[0, 0], [1.5, 0.5], [0, 1.125], [0.375, 0]]
    assert i.tolist() == [[1.5, 0.5], [0.75, 0.75], [0.375, 0.375], [0.1875, 0.1875]]
    # reset by subtraction: neuron 0 keeps 1.125 + .75 - 1 = .875 after its spike, and its
    # next membrane is .875 * .75 + .375 = 1.03125 (a spike at step 5)
    z, v, _ = run(nrn.lif_syn_spytorch_step, INPUT, reset="subtract")
    assert v[2, 0].item() == 0.875 and v[3, 0].item() == 1.03125
    assert z[:, 0].tolist() == [0, 0, 1, 0]


def test_spytorch_recurrent_spike_enters_the_next_current():
    # neuron 0 -> neuron 1 with weight 2: neuron 0's spike at step 3 adds 2 to neuron 1's
    # current at step 4 (SpyTorch's tutorial 4: h1 = W x_t + V z_{t-1})
    weight = torch.tensor([[0.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    _, _, i = run(nrn.lif_syn_spytorch_step, INPUT, recurrent_weight=weight)
    assert i[:, 1].tolist() == [0.5, 0.75, 0.375, 0.1875 + 2.0]


def test_readouts_by_hand():
    drive = torch.tensor([[1.0], [0.0], [0.0], [2.0]], dtype=torch.float64)
    zero = torch.zeros(1, 1, dtype=torch.float64)
    leaky, state = [], nrn.LeakyReadoutState(zero)
    spytorch, two_stage = [], nrn.SpyTorchReadoutState(zero, zero.clone())
    for d in drive.unbind(0):
        y, state = nrn.leaky_readout_step(d[None], state, nrn.LeakyReadoutParams(BETA))
        leaky.append(y.item())
        y, two_stage = nrn.spytorch_readout_step(
            d[None], two_stage, nrn.SpyTorchReadoutParams(ALPHA, BETA)
        )
        spytorch.append(y.item())
    # leaky: y = .75 y + d
    assert leaky == [1.0, 0.75, 0.5625, 0.421875 + 2.0]
    # spytorch: y = .75 y + i_{t-1}, i = .5 i + d: i = 1, .5, .25, 2.125
    assert spytorch == [0.0, 1.0, 0.75 + 0.5, 0.9375 + 0.25]


def test_input_reaches_the_spike_two_steps_later_in_spytorch_order():
    """dz_t / du_s through the surrogate: at once (s = t) in the default order, never before
    s = t - 2 in SpyTorch's (u_t -> i_t -> v_{t+1} -> z_{t+2})."""
    inputs = torch.full((5, 2), 0.2, dtype=torch.float64, requires_grad=True)
    for step, first_lag in ((nrn.lif_syn_step, 0), (nrn.lif_syn_spytorch_step, 2)):
        z, _, _ = run(step, inputs)
        for t in range(5):
            reached = []
            if z[t, 0].requires_grad:
                (grad,) = torch.autograd.grad(z[t, 0], inputs, retain_graph=True)
                reached = [s for s in range(5) if grad[s, 0] != 0]
            assert reached == list(range(t - first_lag + 1)), (step.__name__, t, reached)


def test_classifier_runs_the_spytorch_steps_without_the_fused_path():
    generator = torch.Generator().manual_seed(0)
    x = (torch.rand(25, 3, 6, generator=generator) < 0.3).double()
    model = SpikingClassifier(6, 8, 2, recurrent=True, discretisation="spytorch",
                              input_scale=5.0, recurrent_scale=1.0).double()  # fmt: skip
    assert model.forward_backend() == "reference"
    readout, spikes = model(x)
    w = model.effective_weights()
    params = model.neuron_params(w["w_rec"])
    state = nrn.lif_syn_initial_state(3, 8, dtype=torch.float64)
    out_state = nrn.SpyTorchReadoutState(torch.zeros(3, 2).double(), torch.zeros(3, 2).double())
    out_params = nrn.SpyTorchReadoutParams(model.alpha, model.kappa)
    for t in range(25):
        z, state = nrn.lif_syn_spytorch_step(x[t] @ w["w_in"].t(), state, params)
        drive = z @ w["w_out"].t() + w["b_out"]
        y, out_state = nrn.spytorch_readout_step(drive, out_state, out_params)
        torch.testing.assert_close(spikes[t], z)
        torch.testing.assert_close(readout[t], y)
    assert spikes.sum() > 0
    default = SpikingClassifier(6, 8, 2, recurrent=True, input_scale=5.0, recurrent_scale=1.0)
    assert not torch.equal(default.double()(x)[1], spikes)
    # truncated BPTT carries the two-stage readout state
    first, _, carried = model(x[:10], return_state=True)
    rest, _ = model(x[10:], state=carried)
    torch.testing.assert_close(torch.cat([first, rest]), readout)


def test_spytorch_discretisation_refuses_other_neurons_and_eprop():
    with pytest.raises(ValueError, match="needs neuron 'lif_syn'"):
        SpikingClassifier(6, 8, 2, neuron="alif", discretisation="spytorch")
    with pytest.raises(ValueError, match="discretisation must be one of"):
        SpikingClassifier(6, 8, 2, discretisation="euler")
    model = SpikingClassifier(6, 8, 2, discretisation="spytorch")
    with pytest.raises(ValueError, match="e-prop follows the 'default' discretisation"):
        eprop_classifier_gradients(model, torch.zeros(5, 2, 6), torch.zeros(2, dtype=torch.long))
