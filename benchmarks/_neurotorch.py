"""NeuroTorch 0.0.2's side of benchmarks/fit_speed.py: its network and training iteration,
built and driven as its paper code does, and its installation into benchmarks/.peers.

NeuroTorch is installed for the benchmark only, never into the project's environment
(``pip install --no-deps --target benchmarks/.peers/neurotorch-0.0.2 ...``: the project's torch
stays; the rest of what it imports is in the project's environment).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from _harness import ensure_installed

NEUROTORCH_DIR = Path(__file__).resolve().parent / ".peers" / "neurotorch-0.0.2"
NEUROTORCH_PACKAGES = ("neurotorch==0.0.2", "pythonbasictools<0.0.2,>=0.0.1a11")


def ensure_neurotorch(install: bool) -> bool:
    """NeuroTorch in its own folder of benchmarks/.peers (installed once, without deps)."""
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--target"]
    command += [str(NEUROTORCH_DIR), *NEUROTORCH_PACKAGES]
    return ensure_installed([NEUROTORCH_DIR / "neurotorch"], command, "NeuroTorch 0.0.2", install)


def paper_frames(data: Path):
    """The paper's TimeSeriesDataset: global min-max, smoothing sigma = 10, every neuron once;
    (T, N) float32."""
    import numpy as np
    from scipy.ndimage import gaussian_filter1d

    series = np.load(data, allow_pickle=True)
    series = series[np.sum(np.abs(series), axis=-1) > 0, :]
    frames = series.T.astype(np.float32)
    frames = frames - np.min(frames)
    frames = frames / (np.max(frames) + 1e-5)
    return gaussian_filter1d(frames, sigma=10, mode="nearest", axis=0).astype(np.float32)


def wilson_cowan_layers(nt, n_units: int, dale: bool, device) -> list:
    """set_wc_default_param + get_wc_layer, no output layer."""
    layer = nt.WilsonCowanLayer(
        n_units,
        n_units,
        std_weights=1,
        forward_sign=0.5,
        dt=0.02,
        r=0.1,
        mean_r=0.5,
        std_r=0.4,
        mu=0.0,
        mean_mu=0.0,
        std_mu=1.0,
        tau=0.1,
        learn_r=True,
        learn_mu=True,
        learn_tau=True,
        hh_init="inputs",
        device=device,
        name="Encoder",
        force_dale_law=dale,
        activation="sigmoid",
        use_recurrent_connection=False,
        forward_weights=None,
        recurrent_weights=None,
    ).build()
    return [layer]


def snn_lpf_layers(nt, n_units: int, dale: bool, device) -> list:
    """set_snn_lpf_default_param + get_snn_lpf_layer, with its N x N output layer."""
    layer = nt.SpyLIFLayerLPF(
        n_units,
        n_units,
        dt=0.02,
        hh_init="inputs",
        force_dale_law=dale,
        use_recurrent_connection=False,
        forward_weights=None,
        recurrent_weights=None,
        name="Encoder",
        device=device,
        forward_sign=0.5,
    ).build()
    readout = nt.Linear(n_units, n_units, device=device, use_bias=False, activation="sigmoid")
    return [layer, readout]


def sequential_model(nt, layers: list, n_time: int, device):
    """SequentialRNN with a foresight rollout over the ``n_time - 1`` frames after the first."""
    checkpoints = tempfile.mkdtemp(prefix="fit_speed_nt_")
    model = nt.SequentialRNN(
        layers=layers,
        output_transform=None,
        device=device,
        foresight_time_steps=n_time - 1,
        out_memory_size=n_time - 1,
        hh_memory_size=n_time - 1,
        checkpoint_folder=checkpoints,
        name="bench",
    ).build()
    model.foresight_time_steps = n_time - 1
    model.out_memory_size = model.foresight_time_steps
    model.hh_memory_size = 1
    return model


def bptt_algorithm(nt, torch, model):
    """The paper's BPTT: criterion MSE / Var(target), AdamW lr 1e-5, weight decay 0.01."""

    class SMSEloss(torch.nn.Module):  # the paper's BPTT criterion
        def forward(self, inputs, target):
            x, y = nt.to_tensor(inputs), nt.to_tensor(target)
            return torch.nn.functional.mse_loss(x, y, reduction="mean") / (y.var() + 1e-5)

    algorithm = nt.BPTT(
        params=list(model.parameters()),
        params_lr=1e-5,
        weight_decay=0.01,
        criterion=SMSEloss(),
        default_optim_kwargs={"weight_decay": 0.01, "lr": 1e-5, "maximize": False},
    )
    algorithm.create_default_optimizer()
    return algorithm


def run_neurotorch(layer_kind: str, dale: bool, data: Path):
    """NeuroTorch 0.0.2, built as NeuroTorch_PaperWithCode/neuronal_time_series_reproduction
    builds it (get_wc_layer / get_snn_lpf_layer, SequentialRNN with a foresight rollout over the
    619 frames after the first), one iteration as nt.trainers.Trainer._exec_batch runs it in
    training mode: get_prediction_trace -> BPTT optimisation step (zero_grad, criterion
    MSE / Var(target), backward, AdamW step) -> zero_grad -> loss.item(). Without the
    Trainer's per-iteration validation and metric passes (not timed on our side either).
    ``layer_kind``: "wilson_cowan" or "snn_lpf". Returns (model, iteration, description)."""
    import neurotorch as nt
    import torch
    from neurotorch.utils.formatting import format_pred_batch

    device = torch.device("cpu")
    frames = paper_frames(data)
    n_time, n_units = frames.shape
    x_batch = torch.from_numpy(frames[0:1]).unsqueeze(0)  # (1, 1, N): the first frame
    y_batch = torch.from_numpy(frames[1:]).unsqueeze(0)  # (1, T - 1, N)
    nt.set_seed(0)
    build_layers = wilson_cowan_layers if layer_kind == "wilson_cowan" else snn_lpf_layers
    layers = build_layers(nt, n_units, dale, device)
    model = sequential_model(nt, layers, n_time, device)
    algorithm = bptt_algorithm(nt, torch, model)

    def iteration() -> float:
        model.train()
        prediction = format_pred_batch(model.get_prediction_trace(x_batch), y_batch)
        loss = algorithm._make_optim_step(prediction, y_batch)
        algorithm.optimizer.zero_grad()
        return float(loss.item())

    what = (
        f"NeuroTorch {getattr(nt, '__version__', '?')} "
        f"{type(layers[0]).__name__}(force_dale_law={dale}), {len(layers)} layer(s)"
    )
    return model, iteration, what
