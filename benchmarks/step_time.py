#!/usr/bin/env python
"""One training step of the SHD-shaped spiking network: this library against snnTorch and Norse.

Workload: batch 128, T = 100 steps, 700 input channels with Bernoulli(0.02) spikes, 256
recurrent LIF neurons with synaptic current, 20 leaky (non-spiking) readout units, cross-entropy
on the readout's maximum over time; float32, 2 torch threads, AdamW (lr 2e-4).
One step = zero_grad + forward + loss + backward + optimizer step.

Every configuration runs in a fresh subprocess (so its peak memory is its own; the harness of
benchmarks/_harness.py, whose repeats alternate the configurations' order): 3 warm-up
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
  plain             SpikingClassifier(backend="reference"): the library's step functions
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
import math
import sys
from pathlib import Path

import _harness as harness

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
    kwargs = {"backend": "reference" if name == "plain" else "auto"}
    if name == "ours_linear_init":
        kwargs.update(
            input_scale=LINEAR_INIT_SCALE,
            recurrent_scale=LINEAR_INIT_SCALE,
            readout_scale=LINEAR_INIT_SCALE,
        )
    model = _classifier(torch, **kwargs)
    backend = model.forward_backend()
    if backend != ("reference" if name == "plain" else "torch"):
        raise RuntimeError(f"SpikingClassifier runs on the {backend} backend for {name}")

    def loss_fn():
        readout, z = model(x)
        return F.cross_entropy(readout.max(0).values, y), z.detach().mean()

    what = {
        "ours": "SpikingClassifier (fast_lif kernels), its default init",
        "ours_linear_init": "SpikingClassifier (fast_lif kernels), nn.Linear-sized init",
        "plain": "SpikingClassifier(backend='reference'): step functions under autograd",
    }[name]
    return list(model.parameters()), loss_fn, what


def _build_ours_dense(torch, F, x, y):
    """The fast_lif kernels with dense input projection and weight gradients."""
    from neurocircuit.models import fast_lif, spike_projection

    model = _classifier(torch)

    def loss_fn():
        w = model.effective_weights()
        current = spike_projection.spike_input_projection(x, w["w_in"], method="dense")
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
    out = harness.start_worker(threads, allocator, name=name)

    def measure(out: dict) -> None:
        import torch

        params, loss_fn, what = build(name, torch)
        out["what"] = what
        optimizer = torch.optim.AdamW(params, lr=LR)

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss, rate = loss_fn()
            loss.backward()
            optimizer.step()
            return loss.item(), float(rate)

        values = harness.time_steps(step, WARMUP, TIMED, out)
        out["first_loss"], out["spike_rate"] = values[0]
        out["last_loss"] = values[-1][0]

    return harness.guarded(out, measure)


# ----------------------------------------------------------------------------- orchestrator
def ensure_peers(install: bool) -> None:
    command = ["bash", str(HERE / "setup_peers.sh"), sys.executable]
    folders = [PEERS_DIR / "snntorch", PEERS_DIR / "norse"]
    harness.ensure_installed(
        folders, command, "snnTorch and Norse (benchmarks/setup_peers.sh)", install
    )


def run_one(name: str, threads: int, timeout: float, allocator: str) -> dict:
    env = harness.worker_env(threads, [PACKAGE_DIR, PEERS_DIR])
    worker_args = [name, "--threads", str(threads), "--allocator", allocator]
    return harness.run_worker(__file__, worker_args, env, timeout, name=name)


COLUMNS = (
    harness.Column("s/step", 7, ".3f", lambda s: s["median_s"]),
    harness.Column("best", 7, ".3f", lambda s: s["best_s"]),
    harness.Column("peak MB", 8, ".0f", lambda s: s["peak_rss_mb"]),
    harness.Column("step MB", 8, ".0f", lambda s: s["growth_mb"]),
    harness.Column("rate", 6, ".3f", lambda s: s["first"]["spike_rate"]),
    harness.Column("other", 6, ".2f", lambda s: s["other"]),
)


def print_results(results: dict[str, list[dict]], allocator: str) -> float:
    """The table of every configuration; returns ours / the fastest peer."""
    print(
        f"\nWorkload: batch {BATCH}, T={STEPS}, {N_IN} inputs p={P_IN}, {N_HIDDEN} recurrent "
        f"LIF-syn, {N_OUT} leaky readouts, max-over-time CE, float32, {THREADS} threads, AdamW;"
        f"\nallocator: {ALLOCATOR_HELP[allocator]}"
    )
    rows = [((name,), runs) for name, runs in results.items()]
    found = harness.print_table(rows, [("config", 16)], COLUMNS, "s/step", pooled=False)
    summaries = {names[0]: s for names, s in found.items()}
    print(
        "\ns/step = median of the runs' medians of "
        f"{TIMED} timed steps (after {WARMUP} warm-up), un-starred runs only when there are any;"
        "\nbest = fastest single step; peak MB = peak resident memory of the worker process during"
        "\nthe steps (torch runtime included); step MB = that peak minus the resident memory just"
        "\nbefore the first step; rate = hidden spike rate at the first step; other = share of CPU"
        f"\ntime used by other processes while timing (runs above {harness.BUSY:.0%} starred)."
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
        f"step MB {ours['growth_mb']:.0f} (ours, max over runs) vs "
        + ", ".join(f"{n} {s['growth_mb']:.0f}" for n, s in peers)
    )
    return ours["median_s"] / fastest["median_s"]


def progress(index: int, group: str, name: str, r: dict) -> str:
    """The line printed after each run."""
    msg = (
        f"{r['median_s']:.3f} s/step, other load {r['foreign_load']:.2f}"
        if r.get("ok")
        else r.get("error", "?")[:200]
    )
    return f"[run {index + 1}] {name:16s} {msg}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=1, help="fresh runs per configuration")
    parser.add_argument("--only", default="", help="comma-separated subset of " + ",".join(CONFIGS))
    harness.add_harness_arguments(parser, timeout=900.0, threads=THREADS)
    parser.add_argument(
        "--allocator",
        choices=sorted(ALLOCATOR_HELP),
        default="kept",
        help="glibc malloc setting for every configuration alike: "
        + "; ".join(f"{k}: {v}" for k, v in sorted(ALLOCATOR_HELP.items())),
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        harness.print_result(worker(args.worker, args.threads, args.allocator))
        return
    names = [n for n in args.only.split(",") if n] or list(CONFIGS)
    unknown = sorted(set(names) - set(CONFIGS))
    if unknown:
        parser.error(f"unknown configuration(s) {unknown}; choose from {CONFIGS}")
    if any(n in PEERS for n in names):
        ensure_peers(not args.no_install)

    def run_cell(group: str, name: str) -> dict:
        return run_one(name, args.threads, args.timeout, args.allocator)

    results = harness.run_rounds(
        args.repeats, [""], names, run_cell, wait_quiet_s=args.wait_quiet, progress=progress
    )[""]
    harness.write_json(args.json_out, results)
    ratio = print_results(results, args.allocator)
    print(f"ratio_vs_fastest_peer={ratio:.3f}")


if __name__ == "__main__":
    main()
