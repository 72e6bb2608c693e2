"""NeuroTorch's Wilson–Cowan form (``wilson_cowan: neurotorch``) beside the default one.

x_t = (1 - h) x_{t-1} + h (1 - r x_{t-1}) sigmoid(g (W x_{t-1} + I_t) - mu),  h = dt / tau
(NeuroTorch 0.0.2's WilsonCowanLayer, forward Euler), against the default form
r_t = d r_{t-1} + (1 - d) sigmoid(g (W r_{t-1} + I_t) - b),  d = exp(-dt / tau).
"""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.eprop import rate_eprop_and_autograd
from neurocircuit.config import ConfigError, validate_config
from neurocircuit.fit.settings import resolve_fit_settings
from neurocircuit.fit.training import train_on_sequence
from neurocircuit.learning import SequenceFitTask
from neurocircuit.models import neurons as nrn
from neurocircuit.models.activity import RateActivityNetwork
from neurocircuit.models.fitted import (
    build_network,
    initialise_from_data,
    load_fitted_model,
    regression_weights,
    save_fitted_model,
)
from neurocircuit.models.names import parse_model_name

pytestmark = pytest.mark.usefixtures("one_thread")

DOUBLE = torch.float64
SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def neurotorch_params(h=0.25, transition=(0.5, 0.9), gain=1.0, threshold=(0.1, -0.3)):
    """Two units: W [post, pre] = [[0.5, -1.0], [2.0, 0.0]]."""
    weight = torch.tensor([[0.5, -1.0], [2.0, 0.0]], dtype=DOUBLE)
    return nrn.NeuroTorchWilsonCowanParams(
        h,
        torch.tensor(transition, dtype=DOUBLE),
        gain,
        torch.tensor(threshold, dtype=DOUBLE),
        weight,
    )


def test_neurotorch_step_hand_values():
    """Step 1 written out by hand; steps 2 and 3 against values stepped by hand (in Python
    floats) from the same equation."""
    state = nrn.WilsonCowanState(torch.tensor([[0.2, 0.6]], dtype=DOUBLE))
    params = neurotorch_params()
    zeros = torch.zeros(1, 2, dtype=DOUBLE)
    x1, state = nrn.wilson_cowan_neurotorch_step(zeros, state, params)
    # unit 0: W x = 0.5 * 0.2 - 1.0 * 0.6 = -0.5, sigmoid(-0.5 - 0.1) = sigmoid(-0.6)
    # x = 0.75 * 0.2 + 0.25 * (1 - 0.5 * 0.2) * sigmoid(-0.6)
    # unit 1: W x = 2.0 * 0.2 = 0.4, sigmoid(0.4 + 0.3) = sigmoid(0.7)
    # x = 0.75 * 0.6 + 0.25 * (1 - 0.9 * 0.6) * sigmoid(0.7)
    sigmoid_m06, sigmoid_07 = 1 / (1 + math.exp(0.6)), 1 / (1 + math.exp(-0.7))
    by_hand = [0.15 + 0.225 * sigmoid_m06, 0.45 + 0.115 * sigmoid_07]
    torch.testing.assert_close(x1, torch.tensor([by_hand], dtype=DOUBLE), rtol=0, atol=1e-15)
    torch.testing.assert_close(
        x1, torch.tensor([[0.22972733109919605, 0.526841593799339]], dtype=DOUBLE)
    )
    x2, state = nrn.wilson_cowan_neurotorch_step(zeros, state, params)
    x3, state = nrn.wilson_cowan_neurotorch_step(zeros, state, params)
    golden = [[0.2552172757984118, 0.4846868278971051], [0.27596495032108626, 0.46107786645796495]]
    torch.testing.assert_close(torch.cat([x2, x3]), torch.tensor(golden, dtype=DOUBLE))
    assert torch.equal(state.r, x3)


def test_neurotorch_step_gain_and_input():
    """One unit with a gain g and an external drive I:
    x = (1 - h) x + h (1 - r x) sigmoid(g (w x + I) - mu)."""
    params = nrn.NeuroTorchWilsonCowanParams(0.5, 0.4, 2.0, 0.3, torch.tensor([[1.5]]).double())
    state = nrn.WilsonCowanState(torch.tensor([[0.5]], dtype=DOUBLE))
    x, _ = nrn.wilson_cowan_neurotorch_step(torch.tensor([[-0.2]], dtype=DOUBLE), state, params)
    # g (w x + I) - mu = 2 * (0.75 - 0.2) - 0.3 = 0.8;  x = 0.25 + 0.5 * 0.8 * sigmoid(0.8)
    expected = 0.25 + 0.4 / (1 + math.exp(-0.8))
    assert float(x) == pytest.approx(expected, abs=1e-15)


def test_forms_agree_at_r_zero_with_euler_decay_and_differ_otherwise():
    """r = 0 and the default form's decay d = 1 - h: the same update. Same tau (d = exp(-h)):
    they differ by the discretisation, O(h^2); r != 0 adds the transition term."""
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(3, 4, generator=generator, dtype=DOUBLE)
    drive = torch.randn(3, 4, generator=generator, dtype=DOUBLE)
    weight = torch.randn(4, 4, generator=generator, dtype=DOUBLE)
    h = torch.tensor([0.1, 0.2, 0.5, 0.9], dtype=DOUBLE)
    state = nrn.WilsonCowanState(x)
    gain, threshold = 1.3, 0.2
    no_transition = nrn.NeuroTorchWilsonCowanParams(h, 0.0, gain, threshold, weight)
    euler, _ = nrn.wilson_cowan_neurotorch_step(drive, state, no_transition)
    as_default, _ = nrn.wilson_cowan_step(
        drive, state, nrn.WilsonCowanParams(1.0 - h, gain, threshold, weight)
    )
    torch.testing.assert_close(euler, as_default, rtol=0, atol=1e-15)
    exact, _ = nrn.wilson_cowan_step(
        drive, state, nrn.WilsonCowanParams(torch.exp(-h), gain, threshold, weight)
    )
    assert float((exact - euler).abs().max()) > 1e-3
    with_transition, _ = nrn.wilson_cowan_neurotorch_step(
        drive, state, no_transition._replace(transition=0.5)
    )
    assert float((with_transition - euler).abs().min()) > 0
    # the difference is exactly the transition term: -h r x sigmoid(.)
    rate = torch.sigmoid(gain * (drive + x @ weight.t()) - threshold)
    torch.testing.assert_close(with_transition - euler, -h * 0.5 * x * rate)


def test_default_form_unchanged():
    """Golden rollout recorded before the neurotorch form existed (commit 6b2aaa3, float64):
    the default form gives the same numbers, has no transition parameter and runs
    ``wilson_cowan_step``."""
    network = RateActivityNetwork(
        4, dale=True, tau=3.0, gain=1.3, threshold=0.2, weight_scale=2.0, seed=3
    ).double()
    x0 = torch.tensor([[0.1, 0.5, 0.9, 0.3]], dtype=DOUBLE)
    with torch.no_grad():
        output = network(x0, 7)[:, 0]
    golden = [0.32151900108135245, 0.5474593799918454, 0.3354050573413055, 0.2405220164161804]
    torch.testing.assert_close(output[-1], torch.tensor(golden, dtype=DOUBLE), rtol=0, atol=1e-12)
    assert network.wilson_cowan == "default"
    assert network.step_function() is nrn.wilson_cowan_step
    assert not any("transition" in name for name, _ in network.named_parameters())
    assert set(network.effective_parameters()) == {"weight", "decay", "gain", "threshold"}


def neurotorch_network(n=5, **kwargs):
    options = dict(dale=True, tau=3.0, weight_scale=2.0, transition=0.6, seed=2)
    return RateActivityNetwork(n, wilson_cowan="neurotorch", **{**options, **kwargs}).double()


def test_neurotorch_network_runs_the_step_and_learns_its_parameters():
    network = neurotorch_network()
    with torch.no_grad():
        network.transition_parameter.copy_(torch.linspace(-2.0, 2.0, 5))
    x0 = torch.tensor([[0.1, 0.5, 0.9, 0.3, 0.7]], dtype=DOUBLE)
    with torch.no_grad():
        output = network(x0, 6)[:, 0]
        p = network.effective_parameters()
        params = nrn.NeuroTorchWilsonCowanParams(
            network.dt / network.tau(), torch.sigmoid(torch.linspace(-2.0, 2.0, 5, dtype=DOUBLE)),
            network.gain(), network.threshold, p["weight"],
        )  # fmt: skip
        state, expected = nrn.WilsonCowanState(x0), [x0]
        for _ in range(5):
            x, state = nrn.wilson_cowan_neurotorch_step(torch.zeros_like(x0), state, params)
            expected.append(x)
    torch.testing.assert_close(output, torch.cat(expected), rtol=0, atol=1e-15)
    trainable = {name for name, value in network.named_parameters() if value.requires_grad}
    assert {"tau_parameter", "gain_parameter", "threshold", "transition_parameter"} <= trainable
    assert not neurotorch_network(learn_transition=False).transition_parameter.requires_grad


def test_neurotorch_rates_stay_in_unit_interval():
    """r in (0, 1) and tau > dt keep x in [0, 1], even with strong weights, r near 1 and h
    near 1 (NeuroTorch itself bounds neither, and its rates can leave [0, 1])."""
    network = neurotorch_network(n=30, dale=False, weight_scale=20.0, tau=1.0001)
    with torch.no_grad():
        network.transition_parameter.fill_(12.0)  # r = sigmoid(12) ~ 1 - 6e-6
    x0 = torch.rand(8, 30, generator=torch.Generator().manual_seed(0), dtype=DOUBLE)
    with torch.no_grad():
        output = network(x0, 50)
    assert float(output.min()) >= 0.0 and float(output.max()) <= 1.0


def test_bad_neurotorch_settings_fail_clearly():
    with pytest.raises(ValueError, match="wilson_cowan must be one of"):
        RateActivityNetwork(4, wilson_cowan="euler")
    with pytest.raises(ValueError, match="tau must exceed dt"):
        RateActivityNetwork(4, wilson_cowan="neurotorch", dt=1.0, tau=0.5)
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="transition must be in"):
            RateActivityNetwork(4, wilson_cowan="neurotorch", transition=bad)
    with pytest.raises(ValueError, match="only the neurotorch"):
        RateActivityNetwork(4).transition()


def rollout_loss(weight, h, transition, gain, threshold, x0, steps=5):
    params = nrn.NeuroTorchWilsonCowanParams(h, transition, gain, threshold, weight)
    state, loss = nrn.WilsonCowanState(x0), 0.0
    for t in range(steps):
        x, state = nrn.wilson_cowan_neurotorch_step(torch.zeros_like(x0), state, params)
        loss = loss + (x * (t + 1)).sum()
    return loss


def test_rollout_gradients_match_finite_differences():
    generator = torch.Generator().manual_seed(3)

    def draw(*shape, low=-1.0, high=1.0):
        return (low + (high - low) * torch.rand(*shape, generator=generator, dtype=DOUBLE)) \
            .requires_grad_()  # fmt: skip

    inputs = (
        draw(3, 3),
        draw(3, low=0.1, high=0.6),
        draw(3, low=0.2, high=0.9),
        draw(3, low=0.5, high=2.0),
        draw(3),
        draw(2, 3, low=0.0, high=1.0),
    )
    assert torch.autograd.gradcheck(rollout_loss, inputs, eps=1e-6, atol=1e-8, rtol=1e-6)


def test_network_gradients_match_finite_differences():
    """Through the model's parametrizations (Dale, softplus tau and gain, sigmoid r)."""
    network = neurotorch_network(n=3, dale=False)
    x0 = torch.tensor([[0.2, 0.7, 0.4]], dtype=DOUBLE)
    names = [name for name, value in network.named_parameters() if value.requires_grad]
    values = tuple(dict(network.named_parameters())[name].detach().clone() for name in names)

    def loss(*params):
        outputs = torch.func.functional_call(
            network, dict(zip(names, params, strict=True)), (x0, 6)
        )
        return (outputs * torch.arange(6, dtype=DOUBLE)[:, None, None]).sum()

    inputs = tuple(value.requires_grad_() for value in values)
    assert torch.autograd.gradcheck(loss, inputs, eps=1e-6, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("dale_mode", [None, "fixed", "learnable_sign"])
def test_eprop_neurotorch_traces_exact(dale_mode):
    """E-prop's gradients equal autograd's through the same rollout with the fed-back rates
    detached in the drive W x (the unit's own leak and transition term kept)."""
    generator = torch.Generator().manual_seed(4)
    target = (torch.rand(30, 6, generator=generator) * 0.8 + 0.1).double()
    weights = SequenceFitTask().weights(target.shape[0], target)
    model = neurotorch_network(
        n=6, dale=dale_mode is not None, dale_mode=dale_mode or "fixed", tau=2.5
    )
    with torch.no_grad():
        model.transition_parameter.copy_(torch.linspace(-1.5, 1.5, 6))
    p = model.effective_parameters()
    h, c = p["dt_over_tau"], p["transition"]
    x, outputs = target[0:1], [target[0:1]]
    for _ in range(1, target.shape[0]):
        rate = torch.sigmoid(p["gain"] * (x.detach() @ p["weight"].t()) - p["threshold"])
        x = (1 - h) * x + h * (1 - c * x) * rate
        outputs.append(x)
    reference, grads = rate_eprop_and_autograd(model, target, weights, outputs)
    trainable = {name for name, value in model.named_parameters() if value.requires_grad}
    assert set(reference) == set(grads) == trainable
    for name, value in grads.items():
        torch.testing.assert_close(value, reference[name], rtol=1e-10, atol=1e-14, msg=name)


def test_save_load_keeps_the_form_and_the_transition(tmp_path):
    network = neurotorch_network(n=4).float()
    with torch.no_grad():
        network.transition_parameter.copy_(torch.tensor([-1.0, 0.0, 0.5, 2.0]))
    save_fitted_model(network, tmp_path / "model.pt", {"note": "test"})
    loaded, metadata = load_fitted_model(tmp_path / "model.pt")
    assert metadata == {"note": "test"}
    assert loaded.wilson_cowan == "neurotorch"
    assert loaded.step_function() is nrn.wilson_cowan_neurotorch_step
    assert torch.equal(loaded.transition(), network.transition())
    x0 = torch.tensor([[0.1, 0.5, 0.9, 0.3]])
    with torch.no_grad():
        assert torch.equal(loaded(x0, 8), network(x0, 8))
    default = RateActivityNetwork(4, seed=1)
    save_fitted_model(default, tmp_path / "default.pt", {})
    assert load_fitted_model(tmp_path / "default.pt")[0].wilson_cowan == "default"


def test_initialise_from_data_makes_the_mean_a_fixed_point():
    network = neurotorch_network(n=6)
    target = np.random.default_rng(0).uniform(0.05, 0.6, size=(40, 6))
    initialise_from_data(network, target)
    mean = torch.as_tensor(target.mean(axis=0))[None, :]
    with torch.no_grad():
        step = network(mean, 2)[1]
    torch.testing.assert_close(step, mean, rtol=0, atol=1e-10)


def test_regression_inverts_the_one_step_update():
    """On a rollout of a neurotorch network, the regression's weights and thresholds (for a
    network with the same tau, gain and r) reproduce every one-step update."""
    teacher = neurotorch_network(n=4, dale=False, tau=2.0, weight_scale=3.0, seed=5)
    x0 = torch.tensor([[0.9, 0.1, 0.6, 0.3]], dtype=DOUBLE)
    with torch.no_grad():
        target = teacher(x0, 40)[:, 0].numpy()
    student = neurotorch_network(n=4, dale=False, tau=2.0, weight_scale=1.0, seed=7)
    weight, threshold = regression_weights(student, target, ridge=1e-12)
    x = torch.as_tensor(target)
    params = student.step_params()._replace(
        recurrent_weight=torch.as_tensor(weight), threshold=torch.as_tensor(threshold)
    )
    with torch.no_grad():
        predicted, _ = nrn.wilson_cowan_neurotorch_step(
            torch.zeros_like(x[:-1]), nrn.WilsonCowanState(x[:-1]), params
        )
    torch.testing.assert_close(predicted, x[1:], rtol=0, atol=1e-6)


def test_setting_validates_and_lands_in_the_run_params():
    fit = {"network": {"rate": {"wilson_cowan": "neurotorch", "transition": 0.3}}}
    config = validate_config({"fit": fit}, SCHEMA)
    settings = resolve_fit_settings(config["fit"], "zebrafish", "rate_dale_bptt")
    assert settings["network"]["rate"] == {"wilson_cowan": "neurotorch", "transition": 0.3}
    network = build_network(parse_model_name("rate_dale_bptt"), 5, settings["network"], seed=0)
    assert network.wilson_cowan == "neurotorch"
    torch.testing.assert_close(network.transition(), torch.full((5,), 0.3))
    unset = validate_config({}, SCHEMA)["fit"]["defaults"]["network"]["rate"]
    assert "wilson_cowan" not in unset  # the default form, and unchanged params for old runs
    with pytest.raises(ConfigError, match="wilson_cowan"):
        validate_config({"fit": {"network": {"rate": {"wilson_cowan": "euler"}}}}, SCHEMA)
    with pytest.raises(ConfigError, match="transition"):
        validate_config({"fit": {"network": {"rate": {"transition": 1.0}}}}, SCHEMA)


@pytest.mark.parametrize("method", ["bptt", "eprop"])
def test_short_fit_runs(method):
    """A few iterations of rate_dale_{method} with the neurotorch form, as the fit job runs
    them (data initialisation, then the training loop)."""
    generator = np.random.default_rng(0)
    target = np.clip(
        0.4 + 0.2 * np.sin(np.linspace(0, 6, 50))[:, None] + 0.05 * generator.random((50, 6)),
        0,
        1,
    )
    run = train_on_sequence(
        target,
        parse_model_name(f"rate_dale_{method}"),
        network_options={"rate": {"wilson_cowan": "neurotorch", "tau": 5.0}},
        training={"epochs": 4, "lr": 0.01, "eval_every": 2},
        seed=0,
        device="cpu",
    )
    assert run.model.wilson_cowan == "neurotorch"
    assert len(run.result.history) == 4
    assert all(np.isfinite(float(row["train_score"])) for row in run.result.history)


def neurotorch_rollout(force_dale_law: bool, seed: int, n: int = 5, n_steps: int = 20):
    """NeuroTorch 0.0.2's own WilsonCowanLayer (skipped where it is not installed), its
    autonomous rollout (output fed back as input and state) from a random x0, and a
    neurotorch-form network of ours (``dale``: learnable sign) with its time constants,
    thresholds and transition copied (g = 1). Returns (layer, x0, peer frames, network)."""
    nt = pytest.importorskip("neurotorch")
    torch.manual_seed(seed)
    layer = nt.WilsonCowanLayer(
        n, n, std_weights=1, dt=0.02, r=0.1, mean_r=0.5, std_r=0.2, mu=0.0, mean_mu=0.0,
        std_mu=1.0, tau=0.1, learn_r=True, learn_mu=True, learn_tau=True, hh_init="inputs",
        device=torch.device("cpu"), force_dale_law=force_dale_law, activation="sigmoid",
        use_recurrent_connection=False,
    ).build()  # fmt: skip
    dale = {"dale": True, "dale_mode": "learnable_sign"} if force_dale_law else {}
    network = RateActivityNetwork(n, dt=0.02, tau=0.1, wilson_cowan="neurotorch", **dale)
    with torch.no_grad():
        layer.r = torch.linspace(0.1, 0.9, n)[None, :]
        x0 = torch.rand(1, n)
        output, state, peer = x0, None, []
        for _ in range(n_steps):
            output, state = layer(output, state)
            peer.append(output)
        network.threshold.copy_(layer.mu[0])
        network.transition_parameter.copy_(torch.logit(layer.r[0]))
        network.gain_parameter.fill_(math.log(math.e - 1.0))  # g = softplus(.) = 1
    return layer, x0, torch.cat(peer), network


def test_matches_neurotorch_itself():
    """Where NeuroTorch 0.0.2 is installed: its WilsonCowanLayer's autonomous rollout (its
    output fed back as input and state) equals the neurotorch form with g = 1."""
    layer, x0, peer, network = neurotorch_rollout(force_dale_law=False, seed=0)
    with torch.no_grad():
        network.weight.copy_(layer.forward_weights.t())  # NeuroTorch's W is [pre, post]
        ours = network(x0, peer.shape[0] + 1)[1:, 0]
    torch.testing.assert_close(ours, peer, rtol=0, atol=1e-6)


def test_learnable_sign_dale_matches_neurotorch_itself():
    """Where NeuroTorch 0.0.2 is installed: its force_dale_law layer (W = W_raw² · tanh(s), one
    sign parameter per presynaptic neuron, tanh its default sign_activation) gives the same
    effective weights and the same autonomous rollout as our dale_mode "learnable_sign"."""
    layer, x0, peer, network = neurotorch_rollout(force_dale_law=True, seed=1)
    n = network.n_units
    with torch.no_grad():
        raw, sign = layer._forward_weights.detach(), layer._forward_sign.detach()
        assert sign.numel() == n and torch.unique(torch.sign(sign)).numel() == 2
        network.parametrizations.weight[0].sign_parameter.copy_(sign.reshape(n))
        network.parametrizations.weight.original.copy_(raw.t())  # [pre, post] -> [post, pre]
        torch.testing.assert_close(network.weight, layer.forward_weights.t(), rtol=0, atol=1e-7)
        ours = network(x0, peer.shape[0] + 1)[1:, 0]
    torch.testing.assert_close(ours, peer, rtol=0, atol=1e-6)
