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
from neurocircuit.models import neurons as nrn

pytestmark = pytest.mark.usefixtures("one_thread")


def spikes_input(steps=30, batch=4, channels=12, seed=0, p=0.2):
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(steps, batch, channels, generator=generator) < p).float()


@pytest.mark.parametrize("neuron", ["lif_syn", "lif", "alif"])
def test_classifier_shapes_and_state_carry(neuron):
    model = SpikingClassifier(12, 16, 3, neuron=neuron, input_scale=5.0, backend="reference")
    x = spikes_input()
    readout, spikes = model(x)
    assert readout.shape == (30, 4, 3) and spikes.shape == (30, 4, 16)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    assert 0.02 < float(spikes.detach().mean()) < 0.5  # the carried state: spikes and silence
    first, _, state = model(x[:13], return_state=True)
    second, _ = model(x[13:], state=state)
    torch.testing.assert_close(torch.cat([first, second]), readout, rtol=0, atol=1e-6)


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_fast_path_matches_generic_loop(reset):
    torch.manual_seed(0)
    model = SpikingClassifier(12, 16, 3, reset=reset, input_scale=5.0, recurrent_scale=1.0)
    model.double()
    x = spikes_input().double()
    assert model.forward_backend() == "torch"
    with torch.no_grad():
        rate = float(model(x)[1].mean())
    assert 0.02 < rate < 0.5  # spikes and resets on both paths, not a silent network
    grads = []
    for fast in (True, False):
        model.backend = "torch" if fast else "reference"
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


def scramble_dale_raw_parameters(module, seed: int) -> None:
    """Overwrite the raw parameters behind every Dale parametrization of ``module`` with random
    values of both signs (N(0, 1) times the raw parameter's mean size), and a learnable identity
    s with N(0, 0.5**2) draws near 0 (so a few steps can flip some). A parametrization that
    forgot its abs / square, or that only held because right_inverse stored |W|, now shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parametrizations in module.parametrizations.values():
            raw = parametrizations.original
            raw.copy_(torch.randn(raw.shape, generator=generator) * raw.abs().mean())
            identity = getattr(parametrizations[0], "sign_parameter", None)
            if identity is not None:
                identity.copy_(0.5 * torch.randn(identity.shape, generator=generator))


def column_signs(weight: torch.Tensor, existing: torch.Tensor) -> torch.Tensor:
    """(n_pre,) the one strict sign of each presynaptic column of ``weight`` [post, pre].

    Fails unless every existing connection (``existing`` == 1) of a column is strictly of that
    sign (no zero, no mixed signs) and every connection that does not exist is exactly 0."""
    sign = torch.sign(weight.sum(dim=0))
    assert bool((weight[existing == 0] == 0).all()), "a removed connection carries weight"
    signed = weight * sign[None, :]
    strictly = (signed > 0) | (existing == 0)
    bad = (~strictly).any(dim=0).nonzero().flatten().tolist()
    assert bad == [], f"columns {bad} are not of one strict sign (or are all zero)"
    return sign


def dale_models(mode):
    """A recurrent classifier (hidden identities on V's columns, excitatory inputs W_in >= 0,
    free readout) and both activity networks, E and I both present, Dale's law in ``mode``."""
    return (
        SpikingClassifier(
            12, 20, 4, dale=True, dale_mode=mode, input_scale=0.04, recurrent_scale=1.0, seed=1
        ),
        RateActivityNetwork(15, dale=True, dale_mode=mode, exc_fraction=0.6, seed=2),
        SpikingActivityNetwork(15, dale=True, dale_mode=mode, exc_fraction=0.6, seed=3),
    )


def effective_dale_weights(classifier, rate, spiking):
    """name -> (effective weight [post, pre], 0/1 mask of existing connections)."""
    weights = classifier.effective_weights()
    mask = classifier.structural_mask * classifier.connection_mask
    out = {
        "classifier.w_rec": (weights["w_rec"].detach(), mask),
        "classifier.w_in": (weights["w_in"].detach(), torch.ones_like(weights["w_in"])),
    }
    for name, network in (("rate", rate), ("spiking", spiking)):
        mask = network.structural_mask * network.connection_mask
        out[f"{name}.weight"] = (network.recurrent_weight(), mask)
    return out


@pytest.mark.parametrize("mode", ["fixed", "learnable_sign"])
def test_dale_signs_of_effective_weights_after_training_from_random_raw_parameters(mode):
    """Every neuron's outgoing effective recurrent weights keep one strict sign, the neuron's
    identity, after optimizer steps that push each weight towards a random sign, starting from
    raw parameters of both signs; no neuron is silently all-zero; E and I both stay. With fixed
    identities, every neuron keeps the sign it was drawn with. The classifier's input afferents
    stay strictly excitatory (W_in > 0, Song, Yang & Wang 2016)."""
    torch.manual_seed(0)
    models = dale_models(mode)
    classifier, rate, spiking = models
    # the identities drawn at construction, read off the initial effective weights' columns
    drawn = {
        name: column_signs(weight, existing)
        for name, (weight, existing) in effective_dale_weights(*models).items()
    }
    for model in models:
        scramble_dale_raw_parameters(model, seed=5)
    scrambled = {name: w for name, (w, _) in effective_dale_weights(*models).items()}
    x = spikes_input(channels=12)
    _, spikes = classifier(x)
    assert 0.02 < float(spikes.detach().mean()) < 0.8  # V gets gradients through spikes
    parameters = [p for model in models for p in model.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=0.05)
    x0 = torch.rand(2, 15, generator=torch.Generator().manual_seed(6))
    generator = torch.Generator().manual_seed(7)
    for _ in range(30):
        optimizer.zero_grad()
        readout, _ = classifier(x)
        loss = readout.mean() + rate(x0, 5).mean() + spiking(x0, 5).mean()
        loss = loss - (classifier.w_rec * torch.randn(20, 20, generator=generator)).sum()
        loss = loss - (classifier.w_in * torch.randn(20, 12, generator=generator)).sum()
        for network in (rate, spiking):
            loss = loss - (network.weight * torch.randn(15, 15, generator=generator)).sum()
        loss.backward()
        optimizer.step()
    trained = effective_dale_weights(*models)
    signs = {name: column_signs(weight, existing) for name, (weight, existing) in trained.items()}
    # the identity of each neuron is the one the model reports; every input is excitatory
    torch.testing.assert_close(signs["classifier.w_rec"], classifier.neuron_sign())
    assert torch.equal(signs.pop("classifier.w_in"), torch.ones(12))
    torch.testing.assert_close(signs["rate.weight"], rate.neuron_sign())
    torch.testing.assert_close(signs["spiking.weight"], spiking.neuron_sign())
    for name, sign in signs.items():
        assert 0 < int((sign < 0).sum()) < sign.numel(), f"{name}: not both E and I"
        if mode == "fixed":
            assert torch.equal(sign, drawn[name]), f"{name}: an identity changed"
    assert int((drawn["classifier.w_rec"] > 0).sum()) == 16  # the 80 / 20 identities
    assert int((drawn["rate.weight"] > 0).sum()) == 9  # 60 %
    for name, (weight, _) in trained.items():  # the steps moved every matrix by far
        change = (weight - scrambled[name]).abs().max() / scrambled[name].abs().max()
        assert float(change) > 0.1, name


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


def rate_frames_by_hand(w, x0, n, tau, gain, threshold):
    """Wilson–Cowan frames 1..n written out: r <- d r + (1 - d) sigmoid(g W r - b),
    d = exp(-1 / tau) (dt = 1 frame), W [post, pre]."""
    d = math.exp(-1.0 / tau)
    r, frames = x0, []
    for _ in range(n):
        r = d * r + (1 - d) / (1 + torch.exp(-(gain * (r @ w.t()) - threshold)))
        frames.append(r)
    return torch.stack(frames)


def test_rate_rollout_frames_equal_the_equation_by_hand():
    """Frames 1-3 of the rollout against the update written out with the values the network
    was built with (tau 3, gain 2, threshold 0.4) and its effective W."""
    network = RateActivityNetwork(8, dale=True, tau=3.0, gain=2.0, threshold=0.4, seed=0)
    network.double()
    x0 = torch.rand(3, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        out = network(x0, 4)
    assert out.shape == (4, 3, 8) and torch.equal(out[0], x0)
    expected = rate_frames_by_hand(network.recurrent_weight(), x0, 3, 3.0, 2.0, 0.4)
    # tau and g are stored as float32 softplus pre-images: equal to 3 and 2 to ~1e-8
    torch.testing.assert_close(out[1:], expected, rtol=0, atol=1e-7)
    assert float((out[3] - x0).abs().max()) > 0.05  # the frames moved away from x0


def test_spiking_rollout_first_frame_equals_the_equation_by_hand():
    """Frame 1 from rest: i = W x0 + b_in, v~ = i, z = H(v~ - 1), r1 = kappa r0 + (1 - kappa) z,
    y1 = sigmoid(g r1 + c), with r0 the readout's inverse of x0 (clipped to [0, 1]). Some but
    not all units spike in that frame."""
    network = SpikingActivityNetwork(
        8, dale=True, weight_scale=4.0, bias_current=0.5, readout_gain=2.0, readout_bias=-1.0,
        tau_out=4.0, seed=0,
    ).double()  # fmt: skip
    x0 = 0.1 + 0.8 * torch.rand(3, 8, generator=torch.Generator().manual_seed(1))
    x0 = x0.double()
    with torch.no_grad():
        out = network(x0, 2)
    assert out.shape == (2, 3, 8) and torch.equal(out[0], x0)
    z = (x0 @ network.recurrent_weight().t() + 0.5 > 1.0).double()
    assert 0 < int(z.sum()) < z.numel(), int(z.sum())
    kappa = math.exp(-1.0 / 4.0)
    r0 = ((torch.logit(x0) + 1.0) / 2.0).clamp(0.0, 1.0)
    r1 = kappa * r0 + (1 - kappa) * z
    expected = torch.sigmoid(2.0 * r1 - 1.0)  # g = 2 stored as a float32 softplus pre-image
    torch.testing.assert_close(out[1], expected, rtol=0, atol=1e-7)


@pytest.mark.parametrize("cls", [RateActivityNetwork, SpikingActivityNetwork])
def test_activity_network_shapes_and_bad_frames(cls):
    network = cls(8, dale=True, seed=0)
    assert network(torch.rand(3, 8), 20).shape == (20, 3, 8)
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
    # the floor tau_min = dt / 10 holds (not just tau > 0), and the gain stays strictly positive
    assert torch.allclose(network.tau(), torch.full((4,), 0.1)) and bool((network.gain() > 0).all())
    with pytest.raises(ValueError, match="tau"):
        RateActivityNetwork(4, tau=0.01)


# ---------------------------------------------------------------- one coupling path, Dale on it
def moved_from_init(network, seed=0, steps=5):
    """``network`` after a few Adam steps of the rollout MSE against a random target, so every
    parameter (the full readout's off-diagonal W_out too) has left its initial value."""
    generator = torch.Generator().manual_seed(seed)
    n = network.n_units
    x0 = torch.rand(4, n, generator=generator, dtype=torch.float64)
    target = torch.rand(10, 4, n, generator=generator, dtype=torch.float64)
    optimizer = torch.optim.Adam(network.parameters(), lr=0.05)
    for _ in range(steps):
        optimizer.zero_grad()
        (network(x0, 10) - target).square().mean().backward()
        optimizer.step()
    return network


def flip_identities(network, units):
    """Flip the learnable identity of ``units`` by hand (NeuroTorch's tanh(s) sign)."""
    before = network.neuron_sign().clone()
    with torch.no_grad():
        network.parametrizations.weight[0].sign_parameter[units] *= -0.5
    after = network.neuron_sign()
    assert torch.equal(after[units], -before[units])
    return after


def activity_state(network, seed=1):
    """A state in the middle of a rollout (B = 3): random rates, or a spiking state after five
    frames (non-zero currents, membranes and filtered spikes)."""
    x0 = torch.rand(3, network.n_units, generator=torch.Generator().manual_seed(seed))
    x0 = (0.2 + 0.6 * x0).double()
    with torch.no_grad():
        if isinstance(network, RateActivityNetwork):
            return network.initial_state(x0)
        _, state = network.rollout(network.initial_state(x0), 5)
        # the output read out by torch, as with_unit_raised reads it (the compiled rollout's
        # own sigmoid can differ in the last bit)
        state = state._replace(output=network.read_out(state.lowpass.r))
    assert float(state.lowpass.r.max()) > 0
    return state


def with_unit_raised(network, state, k, delta=0.05):
    """``state`` with unit k's own activity raised by ``delta``: the rate r_k, or the filtered
    spikes r_k, read out to the fed-back output as a rollout frame does."""
    if isinstance(network, RateActivityNetwork):
        r = state.r.clone()
        r[:, k] += delta
        return state._replace(r=r)
    r = state.lowpass.r.clone()
    r[:, k] += delta
    return state._replace(lowpass=state.lowpass._replace(r=r), output=network.read_out(r))


def signed_input_changes(network, state):
    """(N, B, N): entry [k, b, i] is the change in unit i's next recurrent input when unit k's
    activity rises, times k's identity (>= 0 everywhere under Dale's law unit to unit)."""
    sign = network.neuron_sign()
    with torch.no_grad():
        base = network.coupling_input(state)
        return torch.stack(
            [
                (network.coupling_input(with_unit_raised(network, state, k)) - base) * sign[k]
                for k in range(network.n_units)
            ]
        )


def units_breaking_dale(network, state) -> list[int]:
    """Units k that push some other unit's next input against k's own sign."""
    changes = signed_input_changes(network, state)
    others = ~torch.eye(network.n_units, dtype=torch.bool)  # [k, i], i != k
    wrong = (changes < -1e-12) & others[:, None, :]
    return [k for k in range(network.n_units) if bool(wrong[k].any())]


DALE_NETWORKS = [
    (cls, mode) for cls in (RateActivityNetwork, SpikingActivityNetwork)
    for mode in ("fixed", "learnable_sign")
]  # fmt: skip


@pytest.mark.parametrize(("cls", "mode"), DALE_NETWORKS)
def test_every_unit_pushes_every_other_with_its_own_sign(cls, mode):
    """Dale's law from unit to unit, through the rollout's own code path (``coupling_input``,
    and for spiking networks the readout of the filtered spikes). Fails for the full readout."""
    network = cls(12, dale=True, dale_mode=mode, exc_fraction=0.75, seed=3).double()
    moved_from_init(network)
    sign = network.neuron_sign()
    if mode == "learnable_sign":
        sign = flip_identities(network, [0, 5, 7])
    assert 0 < int((sign < 0).sum()) < 12
    state = activity_state(network)
    assert units_breaking_dale(network, state) == []
    assert network.dale_on_every_path()
    # not vacuous: every unit moves other units' inputs, by clearly non-zero amounts
    changes = signed_input_changes(network, state)
    others = ~torch.eye(12, dtype=torch.bool)
    assert bool((changes.amax(dim=1)[others].reshape(12, 11).amax(dim=1) > 1e-4).all())


def test_full_readout_breaks_dale_unit_to_unit():
    """NeuroTorch's N x N readout: W obeys Dale's law, the unit-to-unit influence does not."""
    network = SpikingActivityNetwork(12, dale=True, readout="full", exc_fraction=0.75, seed=3)
    network.double()
    state = activity_state(network)
    assert units_breaking_dale(network, state) == []  # W_out = g I at init: one path only
    generator = torch.Generator().manual_seed(4)
    off_diagonal = ~torch.eye(12, dtype=torch.bool)
    with torch.no_grad():
        noise = 0.5 * torch.randn(12, 12, generator=generator, dtype=torch.float64)
        network.readout_weight += noise * off_diagonal
    state = activity_state(network)
    breaking = units_breaking_dale(network, state)
    assert len(breaking) >= 3, breaking
    assert not network.dale_on_every_path()
    w = network.recurrent_weight()
    existing = network.structural_mask * network.connection_mask
    assert torch.equal(column_signs(w, existing), network.neuron_sign())  # W alone obeys Dale


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: RateActivityNetwork(6, dale=True), True),
        (lambda: RateActivityNetwork(6), False),
        (lambda: SpikingActivityNetwork(6, dale=True), True),
        (lambda: SpikingActivityNetwork(6, dale=True, dale_mode="learnable_sign"), True),
        (lambda: SpikingActivityNetwork(6), False),
        (lambda: SpikingActivityNetwork(6, dale=True, readout="full"), False),
    ],
)
def test_dale_on_every_path(make, expected):
    assert make().dale_on_every_path() is expected


def test_default_readout_is_one_to_one():
    network = SpikingActivityNetwork(5)
    assert network.readout == "diagonal" and network.init_kwargs["readout"] == "diagonal"
    assert not hasattr(network, "readout_weight")


@pytest.mark.parametrize(
    "make",
    [
        lambda: RateActivityNetwork(7, dale=True, seed=2),
        lambda: SpikingActivityNetwork(7, dale=True, seed=2),
    ],
)
def test_effective_connectivity_is_w_when_w_is_the_only_coupling(make):
    network = make()
    effective = network.effective_connectivity()
    assert not effective.requires_grad
    torch.testing.assert_close(effective, network.recurrent_weight(), rtol=0, atol=0)
    sign = column_signs(effective, network.structural_mask * network.connection_mask)
    assert torch.equal(sign, network.neuron_sign()) and 0 < int((sign < 0).sum()) < 7


def test_full_readout_effective_connectivity_is_the_linearised_influence():
    """W @ W_out is the Jacobian of the next input with respect to the filtered spikes, up to
    the sigmoid's slope: at pre-activation 0 (r = 0, c = 0) every slope is 1/4."""
    network = SpikingActivityNetwork(6, dale=True, readout="full", seed=5).double()
    with torch.no_grad():
        network.readout_weight += torch.randn(6, 6, generator=torch.Generator().manual_seed(0))
        network.readout_bias.zero_()
    effective = network.effective_connectivity()
    w, w_out = network.recurrent_weight(), network.readout_weight.detach()
    torch.testing.assert_close(effective, w @ w_out, rtol=0, atol=1e-15)
    state = network.initial_state(torch.full((1, 6), 0.5, dtype=torch.float64))

    def next_input(r):
        return network.coupling_input(state._replace(output=network.read_out(r[None, :])))[0]

    jacobian = torch.autograd.functional.jacobian(next_input, torch.zeros(6, dtype=torch.float64))
    torch.testing.assert_close(jacobian, effective / 4, rtol=1e-12, atol=1e-15)
    assert bool(((effective * network.neuron_sign()[None, :]) < 0).any())  # Dale broken


def test_ablation_removes_a_unit_from_every_path():
    """Removing every connection out of unit k silences k for everyone, also through the full
    readout (its W_out[j, k] go with W[j, k]); the readout's diagonal stays."""
    for readout in ("diagonal", "full"):
        network = SpikingActivityNetwork(8, dale=True, readout=readout, seed=1).double()
        if readout == "full":
            with torch.no_grad():
                network.readout_weight += 0.3 * torch.randn(
                    8, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64
                )
        mask = torch.ones(8, 8)
        mask[:, 3] = 0
        network.set_connection_mask(mask)
        state = activity_state(network)
        changes = signed_input_changes(network, state)
        assert float(changes[3].abs().max()) == 0.0
        assert float(changes[2].abs().max()) > 1e-4
        if readout == "full":
            masked = network.effective_readout_weight().detach()
            assert torch.all(masked[[0, 1, 2, 4, 5, 6, 7], 3] == 0)
            assert masked[3, 3] == network.readout_weight[3, 3]
            torch.testing.assert_close(masked[:, 2], network.readout_weight[:, 2].detach())
            assert torch.all(network.effective_connectivity()[:, 3] == 0)
    # the readout mask is derived from the connection mask: saved models keep their keys
    assert set(network.state_dict()) == {
        "bias_current", "readout_weight", "readout_bias", "structural_mask", "connection_mask",
        "parametrizations.weight.original", "parametrizations.weight.0.sign",
    }  # fmt: skip


def test_rate_rollout_through_coupling_input_is_the_step_function_exactly():
    network = RateActivityNetwork(9, dale=True, seed=4, connection_density=0.5)
    state = network.initial_state(torch.rand(2, 9, generator=torch.Generator().manual_seed(0)))
    drive = torch.randn(6, 2, 9, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        outputs, _ = network.rollout(state, 6, external_input=drive)
        expected, reference = [], state
        for t in range(6):
            r, reference = nrn.wilson_cowan_step(drive[t], reference, network.step_params())
            expected.append(r)
    assert torch.equal(outputs, torch.stack(expected))


def test_saved_full_readout_loads_as_full_with_its_ablation(tmp_path):
    """Files written before the default changed name their readout: they load as they were."""
    from neurocircuit.models.fitted import load_fitted_model, save_fitted_model

    network = SpikingActivityNetwork(5, dale=True, readout="full", seed=2)
    with torch.no_grad():
        network.readout_weight += 0.2 * torch.randn(
            5, 5, generator=torch.Generator().manual_seed(0)
        )
    mask = torch.ones(5, 5)
    mask[1, 3] = 0
    network.set_connection_mask(mask)
    save_fitted_model(network, tmp_path / "model.pt", {})
    loaded, _ = load_fitted_model(tmp_path / "model.pt")
    assert loaded.readout == "full" and not loaded.dale_on_every_path()
    assert loaded.effective_readout_weight()[1, 3] == 0
    torch.testing.assert_close(
        loaded.effective_connectivity(), network.effective_connectivity(), rtol=0, atol=0
    )
    x0 = torch.full((1, 5), 0.5)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x0, 8), network(x0, 8), rtol=0, atol=0)
