#!/usr/bin/env python
"""One training iteration of a network fitted to recorded activity: ours against NeuroTorch 0.0.2.

Workload: the zebrafish recording (522 neurons x 620 frames, preprocessed as config.yaml's fit
section says: global min-max, Gaussian smoothing sigma = 10 frames); one unit per neuron, rolled
out from the first frame on its own output over the remaining 619 frames; MSE over the rollout;
full BPTT; one optimizer step (AdamW); float32, 2 threads. One iteration is what the fit rule
does per epoch (neurocircuit.learning.training._train_batches: zero_grad, rollout, loss,
backward, gradient norm, optimizer step, plus the task's summary); the evaluation every
``eval_every`` iterations and the checkpoints are not timed.

Configurations (ours: the fit rule's model name, built from config.yaml | NeuroTorch's layer):
  rate_dale     rate_dale_bptt    Wilson–Cowan, Dale     | WilsonCowanLayer(force_dale_law=True)
  rate_nodale   rate_nodale_bptt  Wilson–Cowan, no Dale  | WilsonCowanLayer(force_dale_law=False)
  spiking_dale  spiking_dale_bptt LIF + low-pass, Dale   | SpyLIFLayerLPF(force_dale_law=True)
                with readout "full" (N x N, as theirs)     + Linear(N, N, sigmoid) readout
Sides, each (configuration, side) in a fresh process:
  ours        the network as the fit rule builds it; its rollout runs on the fused kernels of
              neurocircuit.models.fast_activity (hand-written backward through time, the
              time loops compiled: neurocircuit.models.activity_kernels)
  plain       the same network with use_fast_path=False: the step functions under autograd
  floor       the same rollout's matrix products alone: the T forward and T backward
              vector-matrix products of every N x N matrix the rollout feeds back through,
              plus the weight gradient's one product (no element-wise work, no autograd),
              with the faster of torch's BLAS (MKL) and the OpenBLAS our compiled loops call
  neurotorch  NeuroTorch 0.0.2, built and driven as its paper code does (see run_neurotorch)
Rounds alternate the order of the sides, so slow drifts of the machine hit every side alike;
``--wait-quiet`` waits before each run for other processes to leave the CPU.

NeuroTorch is installed for the benchmark only, never into the project's environment:
``pip install --no-deps --target benchmarks/.peers/neurotorch-0.0.2 neurotorch==0.0.2
"pythonbasictools<0.0.2,>=0.0.1a11"`` with the project's Python (done once when the folder is
missing; ``--no-install`` skips it). ``--no-deps`` keeps the project's torch; the rest of what it
imports (torchvision, scipy, scikit-learn, matplotlib, tqdm, psutil) is in the project's
environment.

Output: a table (median s/iteration per side, best, peak resident memory and what the iterations
add to it, ours / floor, ours / NeuroTorch) and last ``ratio_vs_neurotorch=X``, the geometric
mean over configurations of ours / NeuroTorch (median s/iteration). Targets: X <= 0.1 and every
configuration within 2x of its floor (``floor_bound_met``).

Usage:
  .venv/bin/python benchmarks/fit_speed.py                                 # 3 rounds
  .venv/bin/python benchmarks/fit_speed.py --rounds 1 --iters 2 --warmup 1 # smoke
  .venv/bin/python benchmarks/fit_speed.py --rounds 3 --wait-quiet 600     # numbers to report
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _measure import (
    cpu_snapshot,
    foreign_load,
    format_runs,
    print_result,
    reset_peak_rss,
    status_mb,
    wait_quiet,
    worker_result,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PACKAGE_DIR = REPO / "workflow" / "scripts"
NEUROTORCH_DIR = HERE / ".peers" / "neurotorch-0.0.2"
NEUROTORCH_PACKAGES = ("neurotorch==0.0.2", "pythonbasictools<0.0.2,>=0.0.1a11")
DEFAULT_DATA = (
    REPO.parent / "shared" / "data" / "zebrafish" / ("Stimulus_data_2022_02_23_fish3_1.npy")
)
CONFIG = REPO / "config.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
THREADS = 2
BUSY = 0.15

CONFIGS = {
    # name: (our model name, NeuroTorch layer, Dale)
    "rate_dale": ("rate_dale_bptt", "wilson_cowan", True),
    "rate_nodale": ("rate_nodale_bptt", "wilson_cowan", False),
    "spiking_dale": ("spiking_dale_bptt", "snn_lpf", True),
}
SIDES = ("ours", "plain", "floor", "neurotorch")


# ----------------------------------------------------------------------------- worker side
def _build_ours(config: str, data: Path, fast: bool):
    """The fit rule's network, data and iteration for ``config``; returns (model, iteration)."""
    import numpy as np
    import yaml
    from neurocircuit.config import validate_config
    from neurocircuit.fit.recording import Preprocessing, load_activity, preprocess
    from neurocircuit.fit.settings import resolve_fit_settings
    from neurocircuit.learning import SequenceFitTask, TrainConfig
    from neurocircuit.learning.training import _start_run, _train_batches
    from neurocircuit.models.fitted import build_network, initialise_from_data
    from neurocircuit.models.names import parse_model_name

    model_name = CONFIGS[config][0]
    with open(CONFIG) as f:
        cfg = validate_config(yaml.safe_load(f), SCHEMA)
    settings = resolve_fit_settings(cfg["fit"], "zebrafish", model_name)
    spec = parse_model_name(model_name)
    if spec.dynamics == "spiking":
        # Like for like: NeuroTorch's spiking model feeds back through its N x N output layer
        # as well as W; ours does with readout "full" (the fit's default is one to one).
        settings["network"]["spiking"] = {**settings["network"]["spiking"], "readout": "full"}
    recording = load_activity(
        data, settings["frame_period_s"], settings["max_neurons"], settings["max_frames"]
    )
    target = preprocess(recording.traces, Preprocessing(**settings["preprocessing"]))
    options = dict(settings["training"])
    options.pop("stop_pvar", None)
    train_cfg = TrainConfig.from_dict(
        {**options, "method": spec.method, "seed": 0, "device": "cpu"}
    )
    model = build_network(spec, target.shape[1], settings["network"], seed=0)
    if settings["network"].get("init_from_data", True):
        initialise_from_data(model, target)
    model.use_fast_path = fast
    task = SequenceFitTask()
    run = _start_run(model, task, train_cfg)
    train_data = target.astype(np.float32)
    epoch = [0]

    def iteration() -> float:
        stats, _ = _train_batches(run, train_data, epoch[0])
        epoch[0] += 1
        return float(task.summarize(stats)["loss"])

    first = task.check_target(train_data)
    state = model.initial_state(first[0:1])
    tensors = (state.r,) if spec.dynamics == "rate" else (state.neuron.v, state.output)
    if model.fused_rollout_applies(*tensors) != fast:
        raise RuntimeError(f"the fused rollout does {'not ' if fast else ''}apply to {config}")
    what = (
        f"{type(model).__name__}({model_name}, {'fused' if fast else 'plain loop'}), "
        f"{type(run.optimizer).__name__} lr {train_cfg.lr}"
    )
    return model, train_data, iteration, what


def _floor(model, train_data, iters: int, warmup: int) -> tuple[list[float], str]:
    """Seconds of the rollout's matrix products alone, per iteration: for every N x N matrix
    the rollout feeds back through (W; and W_out for the full readout), the T forward products
    y_{t-1} W^T and the T backward products d_t W on the rollout's own (1, N) rows, plus the
    weight gradient's one product over the stacked trajectory. Nothing else: no element-wise
    work, no autograd, no optimizer. Timed with both BLAS libraries at hand, torch's (MKL)
    through ``torch.mm`` and the OpenBLAS that our compiled loops call (``np.dot`` in a numba
    loop, as ``neurocircuit.models.activity_kernels`` calls it); the faster is the floor."""
    import numpy as np
    import torch
    from numba import njit

    @njit
    def openblas_products(rows, weight, weight_t, out):
        steps = rows.shape[0] - 1
        for t in range(steps):
            out[t + 1] = np.dot(rows[t], weight_t)
        for t in range(steps, 0, -1):
            out[t - 1] = np.dot(rows[t], weight)

    with torch.no_grad():
        x = torch.as_tensor(train_data)
        trajectory = model(x[0:1], x.shape[0])  # (T, 1, N)
        matrices = [model.effective_recurrent_weight().detach().contiguous()]
        if getattr(model, "readout", None) == "full":
            matrices.append(model.effective_readout_weight().detach().contiguous())
    steps = trajectory.shape[0] - 1
    rows = list(trajectory.unbind(0))
    forward = list(torch.empty_like(trajectory).unbind(0))
    backward = list(torch.empty_like(trajectory).unbind(0))
    stacked = trajectory[1:].reshape(steps, -1)
    rows_np, out_np = trajectory.numpy(), np.empty_like(trajectory.numpy())
    pairs = [(w.numpy(), np.ascontiguousarray(w.t().numpy())) for w in matrices]

    def mkl():
        for weight in matrices:
            weight_t = weight.t()
            for t in range(steps):
                torch.mm(rows[t], weight_t, out=forward[t + 1])
            for t in range(steps, 0, -1):
                torch.mm(rows[t], weight, out=backward[t - 1])
            torch.mm(stacked.t(), stacked)

    def openblas():
        for weight, weight_t in pairs:
            openblas_products(rows_np, weight, weight_t, out_np)
            torch.mm(stacked.t(), stacked)

    best = None
    for name, products in (("torch.mm (MKL)", mkl), ("np.dot in numba (OpenBLAS)", openblas)):
        for _ in range(warmup + 1):  # + 1: numba compiles on the first call
            products()
        times = []
        for _ in range(iters):
            start = time.perf_counter()
            products()
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        print(f"    floor with {name}: {median:.4f} s/it", file=sys.stderr)
        if best is None or median < best[0]:
            best = (median, times, name)
    what = (
        f"{len(matrices)} N x N matrix(es): {steps} forward + {steps} backward "
        f"vector-matrix products and one weight-gradient product each, by {best[2]} (the "
        "faster BLAS)"
    )
    return best[1], what


def run_neurotorch(config: str, data: Path):
    """NeuroTorch 0.0.2, built as NeuroTorch_PaperWithCode/neuronal_time_series_reproduction
    builds it (get_wc_layer / get_snn_lpf_layer, SequentialRNN with a foresight rollout over the
    619 frames after the first), one iteration as nt.trainers.Trainer._exec_batch runs it in
    training mode: get_prediction_trace -> BPTT optimisation step (zero_grad, criterion
    MSE / Var(target), backward, AdamW step) -> zero_grad -> loss.item(). Without the
    Trainer's per-iteration validation and metric passes (not timed on our side either)."""
    import neurotorch as nt
    import numpy as np
    import torch
    from neurotorch.utils.formatting import format_pred_batch
    from scipy.ndimage import gaussian_filter1d

    _, layer_kind, dale = CONFIGS[config]
    device = torch.device("cpu")
    # the paper's TimeSeriesDataset: global min-max, smoothing sigma = 10, every neuron once
    series = np.load(data, allow_pickle=True)
    series = series[np.sum(np.abs(series), axis=-1) > 0, :]
    frames = series.T.astype(np.float32)
    frames = frames - np.min(frames)
    frames = frames / (np.max(frames) + 1e-5)
    frames = gaussian_filter1d(frames, sigma=10, mode="nearest", axis=0).astype(np.float32)
    n_time, n_units = frames.shape
    x_batch = torch.from_numpy(frames[0:1]).unsqueeze(0)  # (1, 1, N): the first frame
    y_batch = torch.from_numpy(frames[1:]).unsqueeze(0)  # (1, T - 1, N)
    nt.set_seed(0)
    if layer_kind == "wilson_cowan":  # set_wc_default_param + get_wc_layer, no output layer
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
        layers = [layer]
    else:  # set_snn_lpf_default_param + get_snn_lpf_layer, with its N x N output layer
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
        layers = [layer, readout]
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

    def iteration() -> float:
        model.train()
        prediction = format_pred_batch(model.get_prediction_trace(x_batch), y_batch)
        loss = algorithm._make_optim_step(prediction, y_batch)
        algorithm.optimizer.zero_grad()
        return float(loss.item())

    what = (
        f"NeuroTorch {getattr(nt, '__version__', '?')} "
        f"{type(layer).__name__}(force_dale_law={dale}), {len(layers)} layer(s)"
    )
    return model, iteration, what


def worker(args) -> dict:
    import torch

    config, side, iters, warmup, data = args.config, args.worker, args.iters, args.warmup, args.data
    allocator = args.allocator
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    out = {
        "config": config,
        "side": side,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    if allocator == "kept":
        from neurocircuit.runtime import configure_cpu_allocator

        out["allocator"] = "kept" if configure_cpu_allocator() else "default (not glibc)"
    try:
        if side == "neurotorch":
            model, iteration, what = run_neurotorch(config, data)
        else:
            model, train_data, iteration, what = _build_ours(config, data, side != "plain")
        out["trainable_scalars"] = int(
            sum(p.numel() for p in model.parameters() if p.requires_grad)
        )
        out["rss_before_mb"] = status_mb("VmRSS")
        out["peak_reset"] = reset_peak_rss()
        before = cpu_snapshot()
        if side == "floor":
            times, what = _floor(model, train_data, iters, warmup)
            losses = []
        else:
            losses = [iteration() for _ in range(warmup)]
            times = []
            for _ in range(iters):
                start = time.perf_counter()
                losses.append(iteration())
                times.append(time.perf_counter() - start)
        out["foreign_load"] = foreign_load(before, cpu_snapshot())
        peak = status_mb("VmHWM")
        out.update(
            what=what,
            times=times,
            median_s=statistics.median(times),
            best_s=min(times),
            losses=losses,
            peak_rss_mb=peak,
            growth_mb=peak - out["rss_before_mb"],
            ok=True,
        )
    except Exception as error:  # reported in the table instead of stopping the run
        import traceback

        out.update(ok=False, error=f"{type(error).__name__}: {error}")
        out["traceback"] = traceback.format_exc()[-3000:]
    return out


# ----------------------------------------------------------------------------- orchestrator
def ensure_neurotorch(install: bool) -> bool:
    """NeuroTorch in its own folder of benchmarks/.peers (installed once, without deps)."""
    if (NEUROTORCH_DIR / "neurotorch").is_dir():
        return True
    if not install:
        print(f"NeuroTorch missing in {NEUROTORCH_DIR}", file=sys.stderr)
        return False
    print(f"installing NeuroTorch 0.0.2 into {NEUROTORCH_DIR} (once) ...", file=sys.stderr)
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--target",
        str(NEUROTORCH_DIR),
        *NEUROTORCH_PACKAGES,
    ]
    return subprocess.run(command, check=False).returncode == 0


def side_allocator(setting: str, side: str) -> str:
    """The glibc allocator setting of one side: ``setting`` for every side alike, or with
    "as-run" each as it runs in practice (ours as the fit rule: kept; NeuroTorch: default).
    Both matter: NeuroTorch's Dale layer allocates 1.3 GB per iteration and runs about 1.6x
    slower with freed blocks kept (0.74-0.78 s against 0.46-0.47 s, 2026-11-30)."""
    if setting != "as-run":
        return setting
    return "default" if side == "neurotorch" else "kept"


def run_one(config: str, side: str, args) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(args.threads)
    paths = [str(PACKAGE_DIR)]
    if side == "neurotorch":
        paths.append(str(NEUROTORCH_DIR))
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.setdefault("PYTHONWARNINGS", "ignore")
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        side,
        "--config",
        config,
        "--iters",
        str(args.iters),
        "--warmup",
        str(args.warmup),
        "--allocator",
        side_allocator(args.allocator, side),
        "--data",
        str(args.data),
        "--threads",
        str(args.threads),
    ]
    with tempfile.TemporaryDirectory(prefix="fit_speed_") as work:
        try:
            proc = subprocess.run(
                command, capture_output=True, text=True, env=env, cwd=work, timeout=args.timeout
            )
        except subprocess.TimeoutExpired:
            return {"ok": False, "error": f"timeout after {args.timeout:.0f} s"}
    return worker_result(proc)


def summarise(runs: list[dict]) -> dict | None:
    ok = [r for r in runs if r.get("ok")]
    if not ok:
        return None
    quiet = [r for r in ok if not r["foreign_load"] > BUSY] or ok
    return {
        "median_s": statistics.median(t for r in quiet for t in r["times"]),
        "best_s": min(r["best_s"] for r in ok),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in ok),
        "growth_mb": max(r["growth_mb"] for r in ok),
        "other": statistics.median(r["foreign_load"] for r in ok),
        "runs": [r["median_s"] for r in ok],
        "starred": [r["foreign_load"] > BUSY for r in ok],
        "what": ok[0]["what"],
    }


def geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def print_table(
    results: dict, configs: list[str], sides: list[str], threads: int, allocator: str
) -> float:
    print(
        f"\nWorkload: zebrafish, 522 units, rollout over 619 frames from frame 0, MSE, BPTT, "
        f"one AdamW step; float32, {threads} threads; glibc allocator per side: "
        + ", ".join(f"{side} {side_allocator(allocator, side)}" for side in sides)
    )
    header = (
        f"{'config':13s} {'side':10s} {'s/it':>7s} {'best':>7s} {'peak MB':>8s} "
        f"{'+MB':>6s} {'other':>6s}  runs (median s/it; * = busy machine)  what"
    )
    print(header)
    print("-" * len(header))
    summaries = {}
    for config in configs:
        for side in sides:
            s = summarise(results[config][side])
            summaries[(config, side)] = s
            if s is None:
                runs = results[config][side]
                error = runs[0].get("error", "?") if runs else "not run"
                print(f"{config:13s} {side:10s} FAILED: {error[:200]}")
                continue
            per_run = format_runs(s)
            print(
                f"{config:13s} {side:10s} {s['median_s']:7.3f} {s['best_s']:7.3f} "
                f"{s['peak_rss_mb']:8.0f} {s['growth_mb']:6.0f} {s['other']:6.2f}  "
                f"{per_run}  {s['what']}"
            )
    print(
        "\ns/it = median over every timed iteration of the runs (un-starred runs only when there"
        "\nare any); peak MB = peak resident memory of the worker during the timed iterations;"
        "\n+MB = that peak minus the resident memory before them; other = share of CPU time"
        f"\nused by other processes while timing (runs above {BUSY:.0%} starred)."
    )
    ratios, floor_met = [], True
    print()
    for config in configs:
        ours = summaries.get((config, "ours"))
        line = f"{config:13s}"
        for side in ("plain", "floor", "neurotorch"):
            other = summaries.get((config, side))
            if ours and other:
                line += f"  ours/{side} {ours['median_s'] / other['median_s']:.3f}"
        if ours and summaries.get((config, "floor")):
            floor_met &= ours["median_s"] <= 2.0 * summaries[(config, "floor")]["median_s"]
        if ours and summaries.get((config, "neurotorch")):
            ratios.append(ours["median_s"] / summaries[(config, "neurotorch")]["median_s"])
        print(line)
    if "floor" in sides:
        print(f"floor_bound_met={floor_met}  (every configuration within 2x of its floor)")
    return geometric_mean(ratios) if len(ratios) == len(configs) else float("nan")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="fresh runs of every cell")
    parser.add_argument("--iters", type=int, default=10, help="timed iterations per run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations per run")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--sides", default=",".join(SIDES))
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="before each run, wait up to this many seconds for other processes "
        "to use < 10%% of the CPU",
    )
    parser.add_argument(
        "--allocator",
        choices=("as-run", "kept", "default"),
        default="as-run",
        help="as-run: each side as it runs in practice (ours: glibc keeps freed blocks, "
        "neurocircuit.runtime.configure_cpu_allocator, as the fit rule does; NeuroTorch: "
        "glibc's default); kept or default: that setting for every side alike",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("ZEBRAFISH", DEFAULT_DATA)),
        help="the zebrafish recording (.npy, neurons x frames)",
    )
    parser.add_argument(
        "--threads", type=int, default=THREADS, help="torch threads (the workload: 2)"
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    parser.add_argument("--no-install", action="store_true", help="do not install NeuroTorch")
    parser.add_argument("--json-out", help="also write every run's raw numbers here")
    parser.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        result = worker(args)
        print_result(result)
        return
    configs = [c for c in args.configs.split(",") if c]
    sides = [s for s in args.sides.split(",") if s]
    unknown = sorted(set(configs) - set(CONFIGS)) + sorted(set(sides) - set(SIDES))
    if unknown:
        parser.error(
            f"unknown configuration(s) or side(s) {unknown}; configurations "
            f"{list(CONFIGS)}, sides {list(SIDES)}"
        )
    if not args.data.is_file():
        parser.error(f"{args.data}: zebrafish recording not found (--data or $ZEBRAFISH)")
    if "neurotorch" in sides and not ensure_neurotorch(not args.no_install):
        sides.remove("neurotorch")
    results = {c: {s: [] for s in sides} for c in configs}
    for index in range(args.rounds):
        order = sides[index % len(sides) :] + sides[: index % len(sides)]
        if index % 2:
            order = order[::-1]
        for config in configs:
            for side in order:
                if args.wait_quiet > 0:
                    wait_quiet(args.wait_quiet)
                r = run_one(config, side, args)
                results[config][side].append(r)
                msg = (
                    f"{r['median_s']:.3f} s/it, peak {r['peak_rss_mb']:.0f} MB, other load "
                    f"{r['foreign_load']:.2f}"
                    if r.get("ok")
                    else r.get("error", "?")[:300]
                )
                print(
                    f"[round {index + 1}] {config:13s} {side:10s} {msg}",
                    file=sys.stderr,
                    flush=True,
                )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=1))
    ratio = print_table(results, configs, sides, args.threads, args.allocator)
    print(f"ratio_vs_neurotorch={ratio:.3f}")


if __name__ == "__main__":
    main()
