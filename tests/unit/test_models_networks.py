"""Networks: shapes, state carry, fast path, Dale's law, E–I balance, masks, rate-network
gradients against finite differences."""

import math

import pytest
import torch
from neurocircuit.learning import SequenceFitTask
from neurocircuit.models import (
    RateActivityNetwork,
    SpikingActivityNetwork,
    SpikingClassifier,
)
from neurocircuit.models import classifier as classifier_module

HAS_FAST_PATH = classifier_module._fast_lif is not None


pytestmark = pytest.mark.usefixtures("one_thread")


def spikes_input(steps=30, batch=4, channels=12, seed=0, p=0.2):
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(steps, batch, channels, generator=generator) < p).float()


@pytest.mark.parametrize("neuron", ["lif_syn", "lif", "alif"])
def test_classifier_shapes_and_state_carry(neuron):
    model = SpikingClassifier(12, 16, 3, neuron=neuron, input_scale=5.0, use_fast_path=False)
    x = spikes_input()
    readout, spikes = model(x)
    assert readout.shape == (30, 4, 3) and spikes.shape == (30, 4, 16)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0} and spikes.sum() > 0
    first, _, state = model(x[:13], return_state=True)
    second, _ = model(x[13:], state=state)
    torch.testing.assert_close(torch.cat([first, second]), readout, rtol=0, atol=1e-6)


@pytest.mark.skipif(not HAS_FAST_PATH, reason="models/fast_lif.py is not present")
@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_fast_path_matches_generic_loop(reset):
    torch.manual_seed(0)
    model = SpikingClassifier(12, 16, 3, reset=reset, input_scale=5.0, recurrent_scale=1.0)
    model.double()
    x = spikes_input().double()
    assert model.fast_path_applies()
    grads = []
    for fast in (True, False):
        model.use_fast_path = fast
        model.zero_grad()
        readout, spikes = model(x)
        (readout.square().mean() + spikes.mean()).backward()
        grads.append([p.grad.clone() for p in model.parameters()])
        if fast:
            reference = readout.detach()
        else:
            torch.testing.assert_close(readout, reference, rtol=0, atol=1e-12)
    for fast_grad, slow_grad in zip(*grads, strict=True):
        torch.testing.assert_close(fast_grad, slow_grad, rtol=1e-9, atol=1e-12)


def test_classifier_rejects_bad_input_and_options():
    model = SpikingClassifier(12, 16, 3)
    with pytest.raises(ValueError, match=r"\(T, B, 12\)"):
        model(torch.zeros(5, 12))
    with pytest.raises(ValueError, match="neuron must be one of"):
        SpikingClassifier(4, 4, 2, neuron="izhikevich")
    with pytest.raises(ValueError, match="dale_mode must be one of"):
        SpikingClassifier(4, 4, 2, dale=True, dale_mode="soft")
    with pytest.raises(ValueError, match="exc_fraction"):
        SpikingClassifier(4, 4, 2, dale=True, exc_fraction=1.5)


def test_same_seed_same_weights():
    a, b = SpikingClassifier(8, 10, 2, seed=3), SpikingClassifier(8, 10, 2, seed=3)
    c = SpikingClassifier(8, 10, 2, seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.w_in, c.w_in)


def column_signs_consistent(weight: torch.Tensor, sign: torch.Tensor) -> bool:
    """Every presynaptic column has the neuron's sign (zeros allowed)."""
    return bool(((weight * sign[None, :]) >= 0).all())


@pytest.mark.parametrize("mode", ["fixed", "learnable_sign"])
def test_dale_sign_kept_after_many_optimizer_steps(mode):
    torch.manual_seed(0)
    model = SpikingClassifier(12, 20, 4, dale=True, dale_mode=mode, input_scale=5.0)
    rate = RateActivityNetwork(15, dale=True, dale_mode=mode)
    initial_sign = model.neuron_sign().clone()
    parameters = list(model.parameters()) + list(rate.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=0.05)
    x = spikes_input(channels=12)
    x0 = torch.rand(2, 15)
    for _ in range(100):  # a loss that pushes every weight towards a random sign
        optimizer.zero_grad()
        readout, _ = model(x)
        target_w = torch.randn(20, 20)
        loss = (
            readout.mean()
            - (model.w_rec * target_w).sum()
            - (rate.weight * torch.randn(15, 15)).sum()
        )
        loss = loss + rate(x0, 5).mean()
        loss.backward()
        optimizer.step()
    sign = model.neuron_sign()
    assert set(sign.tolist()) <= {-1.0, 1.0}
    assert column_signs_consistent(model.w_rec, sign)
    assert column_signs_consistent(model.w_out, sign)
    assert column_signs_consistent(rate.recurrent_weight(), rate.neuron_sign())
    if mode == "fixed":
        assert torch.equal(sign, initial_sign)
    # the 80 / 20 identities
    assert int((initial_sign > 0).sum()) == 16


def test_ei_balance_at_init_within_sampling_error():
    n = 400
    for network in (
        RateActivityNetwork(n, dale=True, seed=1),
        SpikingActivityNetwork(n, dale=True, seed=1),
    ):
        weight = network.recurrent_weight().double()
        sign = network.neuron_sign()
        row_sums = weight.sum(dim=1)  # net input to each neuron from equal presynaptic rates
        # one row's sum has sd sqrt(sum_j var(W_ij)); the mean over n rows has sd / sqrt(n)
        var_per_row = (weight.square().sum() / n) * (1 - 2 / math.pi)  # half-normal variance
        standard_error = math.sqrt(float(var_per_row)) / math.sqrt(n)
        assert abs(float(row_sums.mean())) < 4 * standard_error
        # E and I magnitudes balance column-wise: sum over E columns ~ sum over I columns
        exc, inh = weight[:, sign > 0].sum(), -weight[:, sign < 0].sum()
        assert float(exc / inh) == pytest.approx(1.0, abs=0.03)
        # overall scale as requested: RMS 1 / sqrt(N)
        assert float(weight.square().mean().sqrt() * math.sqrt(n)) == pytest.approx(1.0, rel=0.05)
    unbalanced = RateActivityNetwork(n, dale=True, ei_balance=False, seed=1).recurrent_weight()
    assert float(unbalanced.sum(dim=1).mean()) > 20 * standard_error


def test_connection_masks():
    network = RateActivityNetwork(6, self_connections=False, seed=0)
    assert torch.all(torch.diagonal(network.recurrent_weight()) == 0)
    sparse = RateActivityNetwork(50, connection_density=0.2, seed=0)
    assert float((sparse.recurrent_weight() != 0).float().mean()) == pytest.approx(0.2, abs=0.03)
    x0 = torch.full((1, 6), 0.5)
    before = network(x0, 10)
    mask = torch.ones(6, 6, dtype=torch.bool)
    mask[:, 2] = False  # remove every connection from neuron 2
    network.set_connection_mask(mask)
    assert torch.all(network.recurrent_weight()[:, 2] == 0)
    assert not torch.allclose(before, network(x0, 10))
    network.set_connection_mask(torch.zeros(6, 6))
    assert torch.all(network.recurrent_weight() == 0)
    assert "connection_mask" in network.state_dict()
    with pytest.raises(ValueError, match=r"shape \(6, 6\)"):
        network.set_connection_mask(torch.ones(5, 5))
    with pytest.raises(ValueError, match="0/1"):
        network.set_connection_mask(torch.full((6, 6), 0.5))


@pytest.mark.parametrize("cls", [RateActivityNetwork, SpikingActivityNetwork])
def test_activity_rollout_starts_at_x0_and_stays_in_unit_interval(cls):
    network = cls(8, dale=True, seed=0)
    x0 = torch.rand(3, 8)
    out = network(x0, 20)
    assert out.shape == (20, 3, 8)
    assert torch.equal(out[0], x0)
    assert float(out.detach().min()) >= 0 and float(out.detach().max()) <= 1
    assert network.recurrent_weight().shape == (8, 8)
    assert network.neuron_sign().shape == (8,)
    assert cls(8).neuron_sign() is None
    with pytest.raises(ValueError, match=r"\(B, 8\)"):
        network(torch.rand(8), 5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        network(torch.full((1, 8), 2.0), 5)


def test_rate_network_gradients_match_finite_differences():
    torch.manual_seed(0)
    for mode in ("fixed", "learnable_sign"):
        network = RateActivityNetwork(5, dale=True, dale_mode=mode, tau=3.0, seed=2).double()
        target = torch.rand(12, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        task = SequenceFitTask()

        def loss_value(network=network, task=task, target=target):
            return task.bptt_loss(network, target)[0]

        network.zero_grad()
        loss_value().backward()
        eps = 1e-6
        for name, parameter in network.named_parameters():
            flat = parameter.data.view(-1)
            for index in range(flat.numel()):
                original = float(flat[index])
                flat[index] = original + eps
                with torch.no_grad():
                    up = float(loss_value())
                flat[index] = original - eps
                with torch.no_grad():
                    down = float(loss_value())
                flat[index] = original
                numeric = (up - down) / (2 * eps)
                analytic = float(parameter.grad.view(-1)[index])
                assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-9), (name, index)


def test_rate_network_parameters_stay_valid():
    network = RateActivityNetwork(4, tau=2.0, gain=1.5)
    assert torch.allclose(network.tau(), torch.full((4,), 2.0))
    assert torch.allclose(network.gain(), torch.full((4,), 1.5))
    with torch.no_grad():
        network.tau_parameter.fill_(-50.0)
        network.gain_parameter.fill_(-50.0)
    assert bool((network.tau() > 0).all()) and bool((network.gain() >= 0).all())
    with pytest.raises(ValueError, match="tau"):
        RateActivityNetwork(4, tau=0.01)
