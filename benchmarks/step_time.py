#!/usr/bin/env python
"""One training step of the SHD-shaped spiking network: this library against snnTorch and Norse.

Workload: batch 128, T = 100 steps, 700 input channels with Bernoulli(0.02) spikes, 256
recurrent LIF neurons with synaptic current, 20 leaky (non-spiking) readout units, cross-entropy
on the readout's maximum over time; float32, 2 torch threads, AdamW (lr 2e-4).
One step = zero_grad + forward + loss + backward + optimizer step.

Every configuration runs in a fresh subprocess (so its peak memory is its own): 3 warm-up
steps, then 10 timed steps; the table shows the median and best s/step, the peak resident
memory of the process during the steps (VmHWM, reset just before the first step, so it is the
torch runtime plus everything the steps allocate) and the step's own share (that peak minus the
resident memory just before the first step). Every worker first sets glibc's malloc to keep
freed blocks for reuse (``--allocator kept``, the default; what the workflow's training rules
do through neurocircuit.runtime.configure_cpu_allocator): a step frees and reallocates megabyte
buffers, and with glibc's defaults they are page-faulted and zero-filled afresh every step,
which costs every configuration time and makes the timings jump. ``--allocator default``
measures without.
Peers are installed for the benchmark only, into
benchmarks/.peers (benchmarks/setup_peers.sh; run automatically when missing).

Configurations:
  ours              neurocircuit.models.SpikingClassifier with its defaults (SpyTorch-sized
                    init), which runs on the kernels of neurocircuit.models.fast_lif: sparse
                    input projection, LIF-syn recurrent layer with hand-written BPTT, leaky
                    readout integrator
  ours_linear_init  the same with weights as large as nn.Linear's default init (the peers'):
                    many more hidden spikes, so nothing rests on a quiet network
  ours_dense        the fast kernels with a dense input projection and dense weight gradients
                    (isolates what the sparsity of the spikes buys)
  plain             SpikingClassifier(use_fast_path=False): the library's step functions
                    unrolled under autograd (input projection hoisted and split with .unbind()),
                    the oracle the fast kernels are tested against
  snntorch          snnTorch 1.0.0 RSynaptic (all-to-all recurrence) + Synaptic readout
  norse             Norse 1.1.0 LIFRecurrent + Linear + LI readout
Peers run with their own default initialisation, as a user would get them.

Only configurations run in the same invocation are comparable: timings move with the machine's
load (the column "other" is the share of the machine's CPU time used by other processes while
timing; runs above 15 % are starred). Run it alone on a quiet machine, e.g.
    .venv/bin/python benchmarks/step_time.py --repeats 3 --wait-quiet 600
The last line is ratio_vs_fastest_peer=<ours / fastest peer> on the median s/step, where "ours"
is the slower of ours and ours_linear_init.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
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
PEERS_DIR = HERE / ".peers"
PACKAGE_DIR = REPO / "workflow" / "scripts"

BATCH, STEPS, N_IN, N_HIDDEN, N_OUT = 128, 100, 700, 256, 20
P_IN = 0.02
WARMUP, TIMED = 3, 10
THREADS = 2
DT, TAU_SYN, TAU_MEM = 1e-3, 5e-3, 10e-3
ALPHA = math.exp(-DT / TAU_SYN)
BETA = math.exp(-DT / TAU_MEM)
THRESHOLD, SURROGATE_SCALE = 1.0, 100.0
LR = 2e-4
BUSY = 0.15
ALLOCATOR_HELP = {
    "kept": "freed blocks kept for reuse (neurocircuit.runtime.configure_cpu_allocator, as "
    "the workflow's training rules run), applied to every configuration alike",
    "default": "glibc's default (large blocks page-faulted afresh every step)",
}

CONFIGS = ("ours", "ours_linear_init", "ours_dense", "plain", "snntorch", "norse")
PEERS = ("snntorch", "norse")
OURS = ("ours", "ours_linear_init")


# ----------------------------------------------------------------------------- worker side
def make_data(torch):
    generator = torch.Generator().manual_seed(1234)
    spikes = (torch.rand(STEPS, BATCH, N_IN, generator=generator) < P_IN).float()
    labels = torch.randint(0, N_OUT, (BATCH,), generator=generator)
    return spikes, labels


LINEAR_INIT_SCALE = 1.0 / math.sqrt(3.0)
"""Weight std times sqrt(fan-in) of nn.Linear's default init (uniform +-1/sqrt(fan_in))."""


def _classifier(torch, **kwargs):
    from neurocircuit.models import SpikingClassifier

    return SpikingClassifier(N_IN, N_HIDDEN, N_OUT, neuron="lif_syn", recurrent=True, **kwargs)


def _build_ours(name, torch, F, x, y):
    """SpikingClassifier on the fast path (ours, ours_linear_init) or the step loop (plain)."""
    kwargs = {"use_fast_path": name != "plain"}
    if name == "ours_linear_init":
        kwargs.update(
            input_scale=LINEAR_INIT_SCALE,
            recurrent_scale=LINEAR_INIT_SCALE,
            readout_scale=LINEAR_INIT_SCALE,
        )
    model = _classifier(torch, **kwargs)
    fast = model.fast_path_applies()
    if fast != (name != "plain"):
        raise RuntimeError(f"SpikingClassifier fast path is {fast} for {name}")

    def loss_fn():
        readout, z = model(x)
        return F.cross_entropy(readout.max(0).values, y), z.detach().mean()

    what = {
        "ours": "SpikingClassifier (fast_lif kernels), its default init",
        "ours_linear_init": "SpikingClassifier (fast_lif kernels), nn.Linear-sized init",
        "plain": "SpikingClassifier(use_fast_path=False): step functions under autograd",
    }[name]
    return list(model.parameters()), loss_fn, what


def _build_ours_dense(torch, F, x, y):
    """The fast_lif kernels with dense input projection and weight gradients."""
    from neurocircuit.models import fast_lif

    model = _classifier(torch)

    def loss_fn():
        w = model.effective_weights()
        current = fast_lif.spike_input_projection(x, w["w_in"], method="dense")
        z = fast_lif.lif_syn_recurrent(
            current, w["w_rec"], model.alpha, model.beta, model.threshold, model.reset,
            model.surrogate_scale, method="dense",
        )  # fmt: skip
        readout = fast_lif.leaky_integrate(F.linear(z, w["w_out"], w["b_out"]), model.kappa)
        return F.cross_entropy(readout.max(0).values, y), z.detach().mean()

    what = "fast_lif kernels, dense input projection and weight gradients"
    return list(model.parameters()), loss_fn, what


def _build_snntorch(torch, F, x, y):
    """snnTorch's RSynaptic layer and a Synaptic readout."""
    import snntorch as snn
    from snntorch import surrogate

    grad = surrogate.fast_sigmoid(slope=SURROGATE_SCALE)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(N_IN, N_HIDDEN, bias=False)
            self.lif1 = snn.RSynaptic(alpha=ALPHA, beta=BETA, linear_features=N_HIDDEN,
                                      all_to_all=True, spike_grad=grad)  # fmt: skip
            self.fc2 = torch.nn.Linear(N_HIDDEN, N_OUT)
            self.lif2 = snn.Synaptic(
                alpha=ALPHA, beta=BETA, spike_grad=grad, reset_mechanism="none"
            )

        def forward(self, xt):
            spk1, syn1, mem1 = self.lif1.reset_mem()
            syn2, mem2 = self.lif2.reset_mem()
            mem2_rec, spk1_rec = [], []
            for t in range(STEPS):
                spk1, syn1, mem1 = self.lif1(self.fc1(xt[t]), spk1, syn1, mem1)
                _, syn2, mem2 = self.lif2(self.fc2(spk1), syn2, mem2)
                mem2_rec.append(mem2)
                spk1_rec.append(spk1)
            return torch.stack(mem2_rec), torch.stack(spk1_rec)

    net = Net()

    def loss_fn():
        out, spk = net(x)
        return F.cross_entropy(out.max(0).values, y), spk.detach().mean()

    return list(net.parameters()), loss_fn, f"snnTorch {snn.__version__} RSynaptic"


def _build_norse(torch, F, x, y):
    """Norse's LIFRecurrent layer and an LI readout."""
    import norse.torch as ntorch
    from norse.torch import LIFParameters

    params = LIFParameters(
        tau_syn_inv=torch.as_tensor(1.0 / TAU_SYN),
        tau_mem_inv=torch.as_tensor(1.0 / TAU_MEM),
        v_leak=torch.as_tensor(0.0),
        v_th=torch.as_tensor(THRESHOLD),
        v_reset=torch.as_tensor(0.0),
        method="super",
        alpha=torch.as_tensor(SURROGATE_SCALE),
    )

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rec = ntorch.LIFRecurrent(N_IN, N_HIDDEN, p=params, dt=DT)
            self.fc2 = torch.nn.Linear(N_HIDDEN, N_OUT)
            self.li = ntorch.LI(dt=DT)

        def forward(self, xt):
            z, _ = self.rec(xt)
            v, _ = self.li(self.fc2(z))
            return v, z

    net = Net()

    def loss_fn():
        out, spk = net(x)
        return F.cross_entropy(out.max(0).values, y), spk.detach().mean()

    from importlib.metadata import version

    try:
        what = f"Norse {version('norse')} LIFRecurrent"
    except Exception:
        what = "Norse LIFRecurrent"
    return list(net.parameters()), loss_fn, what


def build(name, torch):
    """(parameters, loss_fn() -> (loss, hidden spike rate), description)."""
    import torch.nn.functional as F

    x, y = make_data(torch)
    if name in ("ours", "ours_linear_init", "plain"):
        return _build_ours(name, torch, F, x, y)
    builders = {"ours_dense": _build_ours_dense, "snntorch": _build_snntorch, "norse": _build_norse}
    if name not in builders:
        raise ValueError(f"unknown configuration {name!r}; choose from {CONFIGS}")
    return builders[name](torch, F, x, y)


def worker(name: str, threads: int, allocator: str = "kept") -> dict:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    out = {"name": name, "torch": torch.__version__, "threads": torch.get_num_threads()}
    if allocator == "kept":
        from neurocircuit.runtime import configure_cpu_allocator

        out["allocator"] = "kept" if configure_cpu_allocator() else "default (not glibc)"
    else:
        out["allocator"] = "default"
    try:
        params, loss_fn, what = build(name, torch)
        out["what"] = what
        optimizer = torch.optim.AdamW(params, lr=LR)

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss, rate = loss_fn()
            loss.backward()
            optimizer.step()
            return loss.item(), float(rate)

        out["rss_before_mb"] = status_mb("VmRSS")
        out["peak_reset"] = reset_peak_rss()
        warm = []
        for i in range(WARMUP):
            t0 = time.perf_counter()
            loss, rate = step()
            warm.append(time.perf_counter() - t0)
            if i == 0:
                out["first_loss"], out["spike_rate"] = loss, rate
        times = []
        before = cpu_snapshot()
        for _ in range(TIMED):
            t0 = time.perf_counter()
            loss, _ = step()
            times.append(time.perf_counter() - t0)
        out["foreign_load"] = foreign_load(before, cpu_snapshot())
        peak = status_mb("VmHWM")
        out.update(
            warmup_s=warm,
            times=times,
            median_s=statistics.median(times),
            best_s=min(times),
            last_loss=loss,
            peak_rss_mb=peak,
            step_mb=peak - out["rss_before_mb"],
            ok=True,
        )
    except Exception as error:  # report it in the table instead of stopping the run
        import traceback

        out.update(ok=False, error=f"{type(error).__name__}: {error}")
        out["traceback"] = traceback.format_exc()[-2000:]
    return out


# ----------------------------------------------------------------------------- orchestrator
def ensure_peers(install: bool) -> None:
    if (PEERS_DIR / "snntorch").is_dir() and (PEERS_DIR / "norse").is_dir():
        return
    if not install:
        print(f"peers missing in {PEERS_DIR}: run benchmarks/setup_peers.sh", file=sys.stderr)
        return
    print(f"installing snnTorch and Norse into {PEERS_DIR} (once) ...", file=sys.stderr)
    subprocess.run(["bash", str(HERE / "setup_peers.sh"), sys.executable], check=False)


def run_one(name: str, threads: int, timeout: float, allocator: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    paths = [str(PACKAGE_DIR), str(PEERS_DIR), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env.setdefault("PYTHONWARNINGS", "ignore")
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", name]
    command += ["--threads", str(threads), "--allocator", allocator]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"name": name, "ok": False, "error": f"timeout after {timeout:.0f} s"}
    return worker_result(proc, name=name)


def summarise(runs: list[dict]) -> dict | None:
    ok = [r for r in runs if r.get("ok")]
    if not ok:
        return None
    quiet = [r for r in ok if not r["foreign_load"] > BUSY] or ok
    return {
        "median_s": statistics.median(r["median_s"] for r in quiet),
        "best_s": min(r["best_s"] for r in quiet),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in ok),
        "step_mb": max(r["step_mb"] for r in ok),
        "spike_rate": ok[0]["spike_rate"],
        "other": statistics.median(r["foreign_load"] for r in ok),
        "runs": [r["median_s"] for r in ok],
        "starred": [r["foreign_load"] > BUSY for r in ok],
        "what": ok[0]["what"],
        "peak_reset": all(r["peak_reset"] for r in ok),
    }


def print_table(results: dict[str, list[dict]], allocator: str) -> float:
    print(
        f"\nWorkload: batch {BATCH}, T={STEPS}, {N_IN} inputs p={P_IN}, {N_HIDDEN} recurrent "
        f"LIF-syn, {N_OUT} leaky readouts, max-over-time CE, float32, {THREADS} threads, AdamW;"
        f"\nallocator: {ALLOCATOR_HELP[allocator]}"
    )
    header = (
        f"{'config':16s} {'s/step':>7s} {'best':>7s} {'peak MB':>8s} {'step MB':>8s} "
        f"{'rate':>6s} {'other':>6s}  runs (median s/step; * = busy machine)  what"
    )
    print(header)
    print("-" * len(header))
    summaries = {}
    for name, runs in results.items():
        s = summarise(runs)
        summaries[name] = s
        if s is None:
            error = runs[0].get("error", "?") if runs else "not run"
            print(f"{name:16s} FAILED: {error[:160]}")
            continue
        per_run = format_runs(s)
        print(
            f"{name:16s} {s['median_s']:7.3f} {s['best_s']:7.3f} {s['peak_rss_mb']:8.0f} "
            f"{s['step_mb']:8.0f} {s['spike_rate']:6.3f} {s['other']:6.2f}  {per_run}  {s['what']}"
        )
    print(
        "\ns/step = median of the runs' medians of "
        f"{TIMED} timed steps (after {WARMUP} warm-up), un-starred runs only when there are any;"
        "\nbest = fastest single step; peak MB = peak resident memory of the worker process during"
        "\nthe steps (torch runtime included); step MB = that peak minus the resident memory just"
        "\nbefore the first step; rate = hidden spike rate at the first step; other = share of CPU"
        f"\ntime used by other processes while timing (runs above {BUSY:.0%} starred)."
    )
    if not all(s["peak_reset"] for s in summaries.values() if s):
        print("note: VmHWM could not be reset here, so peak MB includes start-up peaks")
    candidates = [(n, summaries[n]) for n in OURS if summaries.get(n)]
    peers = [(n, summaries[n]) for n in PEERS if summaries.get(n)]
    if not candidates or not peers:
        return float("nan")
    # the headline takes the slower of our two initialisations, so it never rests on a
    # network that happens to be silent
    ours_name, ours = max(candidates, key=lambda item: item[1]["median_s"])
    peer_name, fastest = min(peers, key=lambda item: item[1]["median_s"])
    print(
        f"\nratio = {ours_name} {ours['median_s']:.3f} s / "
        f"{peer_name} {fastest['median_s']:.3f} s; "
        f"step MB {ours['step_mb']:.0f} (ours, max over runs) vs "
        + ", ".join(f"{n} {s['step_mb']:.0f}" for n, s in peers)
    )
    return ours["median_s"] / fastest["median_s"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--repeats", type=int, default=1, help="fresh runs per configuration")
    parser.add_argument("--only", default="", help="comma-separated subset of " + ",".join(CONFIGS))
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="before each run, wait up to this many seconds for other processes to use <10%% CPU",
    )
    parser.add_argument(
        "--allocator",
        choices=sorted(ALLOCATOR_HELP),
        default="kept",
        help="glibc malloc setting for every configuration alike: "
        + "; ".join(f"{k}: {v}" for k, v in sorted(ALLOCATOR_HELP.items())),
    )
    parser.add_argument("--no-install", action="store_true", help="do not install missing peers")
    parser.add_argument("--json-out", help="also write every run's raw numbers here")
    args = parser.parse_args(argv)
    if args.worker:
        result = worker(args.worker, args.threads, args.allocator)
        print_result(result)
        return
    names = [n for n in args.only.split(",") if n] or list(CONFIGS)
    unknown = sorted(set(names) - set(CONFIGS))
    if unknown:
        parser.error(f"unknown configuration(s) {unknown}; choose from {CONFIGS}")
    if any(n in PEERS for n in names):
        ensure_peers(not args.no_install)
    results: dict[str, list[dict]] = {n: [] for n in names}
    for repeat in range(args.repeats):  # round-robin, so slow drifts hit every config alike
        for name in names:
            if args.wait_quiet > 0:
                wait_quiet(args.wait_quiet)
            r = run_one(name, args.threads, args.timeout, args.allocator)
            results[name].append(r)
            msg = (
                f"{r['median_s']:.3f} s/step, other load {r['foreign_load']:.2f}"
                if r.get("ok")
                else r.get("error", "?")[:200]
            )
            print(f"[run {repeat + 1}] {name:16s} {msg}", file=sys.stderr, flush=True)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=1))
    ratio = print_table(results, args.allocator)
    print(f"ratio_vs_fastest_peer={ratio:.3f}")


if __name__ == "__main__":
    main()
