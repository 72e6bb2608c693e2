#!/usr/bin/env python
"""One fit iteration on recorded activity: ours against NeuroTorch 0.0.2, e-prop against BPTT.

Workload: the zebrafish recording (522 neurons x 620 frames, preprocessed as config.yaml's fit
section says: global min-max, Gaussian smoothing sigma = 10 frames); one unit per neuron, rolled
out from the first frame on its own output over the remaining 619 frames; MSE over the rollout;
one optimizer step (AdamW); float32, 2 threads. One iteration is what the fit rule does per
epoch (neurocircuit.learning.training._train_batches: zero_grad, the learning rule's gradients,
gradient norm, optimizer step, plus the task's summary); the evaluation every ``eval_every``
iterations and the checkpoints are not timed.

Two comparisons (``--only`` runs one of them):

neurotorch: full BPTT; configurations (ours: the fit rule's model name, built from config.yaml |
NeuroTorch's layer):
  rate_dale     rate_dale_bptt    Wilson–Cowan, Dale     | WilsonCowanLayer(force_dale_law=True)
  rate_nodale   rate_nodale_bptt  Wilson–Cowan, no Dale  | WilsonCowanLayer(force_dale_law=False)
  spiking_dale  spiking_dale_bptt LIF + low-pass, Dale   | SpyLIFLayerLPF(force_dale_law=True)
                with readout "full" (N x N, as theirs)     + Linear(N, N, sigmoid) readout
sides, each (configuration, side) in a fresh process:
  ours        the network as the fit rule builds it (backend "auto"): its rollout runs on the
              compiled backend (time loops compiled by numba, neurocircuit.models.
              activity_kernels, with a hand-written backward through time)
  plain       the same network with backend "reference": the step functions under autograd
  floor       the same rollout's matrix products alone: the T forward and T backward
              vector-matrix products of every N x N matrix the rollout feeds back through,
              plus the weight gradient's one product (no element-wise work, no autograd),
              with the faster of torch's BLAS (MKL) and the OpenBLAS our compiled loops call
  neurotorch  NeuroTorch 0.0.2, built and driven as its paper code does (_neurotorch.py)

eprop: spiking_dale as the zebrafish preset fits it (config.yaml with config/zebrafish-cpu.yaml
on top, as ``--configfile`` applies it: its sub-steps, bias, surrogate and one-to-one readout),
one iteration of each learning rule on the same network (seed 0), both ours:
  eprop       spiking_dale_eprop: e-prop's gradients, as the fit rule computes them
              (SequenceFitTask.eprop_backward)
  bptt        spiking_dale_bptt: full BPTT on the compiled backend

Rounds alternate the order of the sides, so slow drifts of the machine hit every side alike;
``--wait-quiet`` waits before each run for other processes to leave the CPU (benchmarks/
_harness.py). NeuroTorch is installed for the benchmark only, never into the project's
environment: ``pip install --no-deps --target benchmarks/.peers/neurotorch-0.0.2
neurotorch==0.0.2 "pythonbasictools<0.0.2,>=0.0.1a11"`` with the project's Python (done once when
the folder is missing; ``--no-install`` skips it).

Output: a table per comparison (median s/iteration per side, best, peak resident memory and what
the iterations add to it), ours / floor and ours / NeuroTorch, then the last lines
``eprop_vs_bptt=X`` (median e-prop s/iteration over median BPTT s/iteration; target X <= 2) and
last ``ratio_vs_neurotorch=X``, the geometric mean over configurations of ours / NeuroTorch
(median s/iteration). Targets: X <= 0.1 and every configuration within 2x of its floor
(``floor_bound_met``). Each comparison prints only its own figure.

Usage:
  .venv/bin/python benchmarks/fit_speed.py                                 # 3 rounds
  .venv/bin/python benchmarks/fit_speed.py --rounds 1 --iters 2 --warmup 1 # smoke
  .venv/bin/python benchmarks/fit_speed.py --only eprop --rounds 1 --iters 2 --warmup 1
  .venv/bin/python benchmarks/fit_speed.py --rounds 3 --wait-quiet 600     # numbers to report
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import _harness as harness
from _neurotorch import NEUROTORCH_DIR, ensure_neurotorch, run_neurotorch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PACKAGE_DIR = REPO / "workflow" / "scripts"
DEFAULT_DATA = (
    REPO.parent / "shared" / "data" / "zebrafish" / "Stimulus_data_2022_02_23_fish3_1.npy"
)
CONFIG = REPO / "config.yaml"
PRESET = REPO / "config" / "zebrafish-cpu.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
THREADS = 2

CONFIGS = {
    # name: (our model name, NeuroTorch layer, Dale)
    "rate_dale": ("rate_dale_bptt", "wilson_cowan", True),
    "rate_nodale": ("rate_nodale_bptt", "wilson_cowan", False),
    "spiking_dale": ("spiking_dale_bptt", "snn_lpf", True),
}
SIDES = ("ours", "plain", "floor", "neurotorch")
EPROP_CONFIG = "spiking_dale"
EPROP_SIDES = {"eprop": "spiking_dale_eprop", "bptt": "spiking_dale_bptt"}
"""The e-prop comparison's sides: our model names on the preset's network."""
COMPARISONS = ("neurotorch", "eprop")


# ----------------------------------------------------------------------------- worker side
def fit_settings(model_name: str, preset: bool) -> dict:
    """One zebrafish fit's settings as the fit rule resolves them from config.yaml (and, with
    ``preset``, config/zebrafish-cpu.yaml merged on top, as ``--configfile`` merges it)."""
    import yaml
    from neurocircuit.config import merge_settings, validate_config
    from neurocircuit.fit.settings import resolve_fit_settings

    with open(CONFIG) as f:
        raw = yaml.safe_load(f)
    if preset:
        with open(PRESET) as f:
            raw = merge_settings(raw, yaml.safe_load(f))
    cfg = validate_config(raw, SCHEMA)
    return resolve_fit_settings(cfg["fit"], "zebrafish", model_name)


def build_iteration(model_name: str, settings: dict, data: Path, fast: bool):
    """The fit rule's network, data and iteration (neurocircuit.fit.training.train_on_sequence
    up to the loop); returns (model, train data, iteration() -> loss, description)."""
    import numpy as np
    from neurocircuit.fit.recording import Preprocessing, load_activity, preprocess
    from neurocircuit.learning import SequenceFitTask, TrainConfig
    from neurocircuit.learning.training import _start_run, _train_batches
    from neurocircuit.models.fitted import (
        build_network,
        initialise_by_regression,
        initialise_from_data,
    )
    from neurocircuit.models.names import parse_model_name

    spec = parse_model_name(model_name)
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
    if settings["network"].get("init_weights", "random") == "regression":
        initialise_by_regression(model, target, settings["network"].get("init_ridge", 0.01))
    if not fast:
        model.backend = "reference"
    task = SequenceFitTask()
    run = _start_run(model, task, train_cfg)
    train_data = target.astype(np.float32)
    epoch = [0]

    def iteration() -> float:
        stats, _ = _train_batches(run, train_data, epoch[0])
        epoch[0] += 1
        return float(task.summarize(stats)["loss"])

    if spec.method == "eprop":
        rule = "e-prop"
    else:
        rule = f"{rollout_backend(model, task, train_data, spec.dynamics)} backend"
        if rule != ("compiled backend" if fast else "reference backend"):
            raise RuntimeError(f"the BPTT rollout of {model_name} runs on the {rule}")
    what = (
        f"{type(model).__name__}({model_name}, {rule}), "
        f"{type(run.optimizer).__name__} lr {train_cfg.lr}"
    )
    return model, train_data, iteration, what


def rollout_backend(model, task, train_data, dynamics: str) -> str:
    """The backend that runs the network's rollout over the recording (models.rollout)."""
    from neurocircuit.models.backend import choose_backend
    from neurocircuit.models.rollout import available_backends

    first = task.check_target(train_data)
    state = model.initial_state(first[0:1])
    if dynamics == "rate":
        name, params = model.dynamics, model.step_params()
    else:
        name, params = "spiking_activity", model.frame_params()
    available = available_backends(name, state, params, None, len(first) - 1)
    return choose_backend(model.backend, available)


def build_side(config: str, side: str, data: Path):
    """(model, train data or None, iteration, description) of one side of either comparison."""
    if side == "neurotorch":
        _, layer_kind, dale = CONFIGS[config]
        model, iteration, what = run_neurotorch(layer_kind, dale, data)
        return model, None, iteration, what
    if side in EPROP_SIDES:
        model_name = EPROP_SIDES[side]
        return build_iteration(model_name, fit_settings(model_name, True), data, True)
    model_name = CONFIGS[config][0]
    settings = fit_settings(model_name, False)
    if model_name.startswith("spiking"):
        # Like for like: NeuroTorch's spiking model feeds back through its N x N output layer
        # as well as W; ours does with readout "full" (the fit's default is one to one).
        settings["network"]["spiking"] = {**settings["network"]["spiking"], "readout": "full"}
    return build_iteration(model_name, settings, data, side != "plain")


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


def worker(args) -> dict:
    out = harness.start_worker(args.threads, args.allocator, config=args.config, side=args.worker)

    def measure(out: dict) -> None:
        model, train_data, iteration, what = build_side(args.config, args.worker, args.data)
        out["trainable_scalars"] = int(
            sum(p.numel() for p in model.parameters() if p.requires_grad)
        )
        if args.worker == "floor":
            harness.begin_measuring(out)
            before = harness.cpu_snapshot()
            times, what = _floor(model, train_data, args.iters, args.warmup)
            harness.record_times(out, times, before)
            losses = []
        else:
            losses = harness.time_steps(iteration, args.warmup, args.iters, out)
        out.update(what=what, losses=losses)

    return harness.guarded(out, measure)


# ----------------------------------------------------------------------------- orchestrator
def side_allocator(setting: str, side: str) -> str:
    """The glibc allocator setting of one side: ``setting`` for every side alike, or with
    "as-run" each as it runs in practice (ours as the fit rule: kept; NeuroTorch: default).
    Both matter: NeuroTorch's Dale layer allocates 1.3 GB per iteration and runs about 1.6x
    slower with freed blocks kept (0.74-0.78 s against 0.46-0.47 s, 2026-11-30)."""
    if setting != "as-run":
        return setting
    return "default" if side == "neurotorch" else "kept"


def run_one(config: str, side: str, args) -> dict:
    paths = [PACKAGE_DIR, NEUROTORCH_DIR] if side == "neurotorch" else [PACKAGE_DIR]
    worker_args = [side, "--config", config, "--iters", str(args.iters)]
    worker_args += [
        "--warmup",
        str(args.warmup),
        "--allocator",
        side_allocator(args.allocator, side),
    ]
    worker_args += ["--data", str(args.data), "--threads", str(args.threads)]
    return harness.run_worker(
        __file__, worker_args, harness.worker_env(args.threads, paths), args.timeout
    )


def progress(index: int, config: str, side: str, r: dict) -> str:
    """The line printed after each run."""
    msg = (
        f"{r['median_s']:.3f} s/it, peak {r['peak_rss_mb']:.0f} MB, other load "
        f"{r['foreign_load']:.2f}"
        if r.get("ok")
        else r.get("error", "?")[:300]
    )
    return f"[round {index + 1}] {config:13s} {side:10s} {msg}"


COLUMNS = (
    harness.Column("s/it", 7, ".3f", lambda s: s["median_s"]),
    harness.Column("best", 7, ".3f", lambda s: s["best_s"]),
    harness.Column("peak MB", 8, ".0f", lambda s: s["peak_rss_mb"]),
    harness.Column("+MB", 6, ".0f", lambda s: s["growth_mb"]),
    harness.Column("other", 6, ".2f", lambda s: s["other"]),
)
LABELS = (("config", 13), ("side", 10))
FOOTNOTE = (
    "\ns/it = median over every timed iteration of the runs (un-starred runs only when there"
    "\nare any); peak MB = peak resident memory of the worker during the timed iterations;"
    "\n+MB = that peak minus the resident memory before them; other = share of CPU time"
    f"\nused by other processes while timing (runs above {harness.BUSY:.0%} starred)."
)


def side_table(results: dict, configs: list[str], sides: list[str]) -> dict:
    """The table of one comparison and its footnote; the summaries by (config, side)."""
    rows = [((c, s), results[c][s]) for c in configs for s in sides]
    summaries = harness.print_table(rows, LABELS, COLUMNS, "s/it", pooled=True)
    print(FOOTNOTE)
    return summaries


def print_neurotorch(
    results: dict, configs: list[str], sides: list[str], threads: int, allocator: str
) -> float:
    """The NeuroTorch comparison's table and ratios; returns ratio_vs_neurotorch."""
    print(
        f"\nWorkload: zebrafish, 522 units, rollout over 619 frames from frame 0, MSE, BPTT, "
        f"one AdamW step; float32, {threads} threads; glibc allocator per side: "
        + ", ".join(f"{side} {side_allocator(allocator, side)}" for side in sides)
    )
    summaries = side_table(results, configs, sides)
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
    return harness.geometric_mean(ratios) if len(ratios) == len(configs) else float("nan")


def print_eprop(results: dict, threads: int, allocator: str) -> float:
    """The e-prop comparison's table; returns eprop_vs_bptt."""
    print(
        f"\nWorkload: the zebrafish preset (config.yaml + config/zebrafish-cpu.yaml), "
        f"{EPROP_CONFIG}, 522 units, rollout over 619 frames from frame 0, MSE, one AdamW step "
        f"by e-prop or BPTT; float32, {threads} threads; glibc allocator "
        f"{side_allocator(allocator, 'eprop')}"
    )
    summaries = side_table(results, [EPROP_CONFIG], list(EPROP_SIDES))
    eprop, bptt = (summaries.get((EPROP_CONFIG, side)) for side in EPROP_SIDES)
    if not (eprop and bptt):
        return float("nan")
    ratio = eprop["median_s"] / bptt["median_s"]
    print(
        f"\neprop/bptt {ratio:.3f}  (e-prop {eprop['median_s']:.3f} s / BPTT "
        f"{bptt['median_s']:.3f} s per iteration; target at most 2)"
    )
    return ratio


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="fresh runs of every cell")
    parser.add_argument("--iters", type=int, default=10, help="timed iterations per run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations per run")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--sides", default=",".join(SIDES))
    parser.add_argument(
        "--only",
        choices=COMPARISONS,
        help="run one comparison: neurotorch (--configs x --sides) or eprop (our e-prop "
        "against our BPTT on the zebrafish preset); both by default",
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
    harness.add_harness_arguments(parser, timeout=1800.0, threads=THREADS)
    parser.add_argument("--worker", choices=(*SIDES, *EPROP_SIDES), help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    return parser


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.worker:
        harness.print_result(worker(args))
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
    comparisons = [args.only] if args.only else list(COMPARISONS)
    if "neurotorch" in comparisons and "neurotorch" in sides:
        if not ensure_neurotorch(not args.no_install):
            sides.remove("neurotorch")

    def run_cell(config: str, side: str) -> dict:
        return run_one(config, side, args)

    results, figures = {}, []
    for comparison in comparisons:
        groups, members = (
            (configs, sides) if comparison == "neurotorch" else ([EPROP_CONFIG], list(EPROP_SIDES))
        )
        results[comparison] = harness.run_rounds(
            args.rounds, groups, members, run_cell, wait_quiet_s=args.wait_quiet, progress=progress
        )
    harness.write_json(args.json_out, results)
    if "neurotorch" in results:
        ratio = print_neurotorch(
            results["neurotorch"], configs, sides, args.threads, args.allocator
        )
        figures.append(f"ratio_vs_neurotorch={ratio:.3f}")
    if "eprop" in results:
        ratio = print_eprop(results["eprop"], args.threads, args.allocator)
        figures.insert(0, f"eprop_vs_bptt={ratio:.3f}")
    print("\n".join(figures))


if __name__ == "__main__":
    main()
