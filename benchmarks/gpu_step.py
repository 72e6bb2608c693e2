#!/usr/bin/env python
"""One training step on CUDA against the CPU, and a check that both give the same numbers.

Times one step (zero_grad, forward, max-over-time cross-entropy, backward, AdamW) of
``SpikingClassifier`` (LIF with synaptic current, recurrent, leaky readout) with
  - the SHD shape: batch 128, T = 100, 700 Bernoulli(0.02) inputs, 256 hidden, 20 readouts;
  - a larger one: batch 256, T = 100, 700 inputs, 1,000 hidden, 20 readouts;
for the fast kernels (``fast_lif``, the default path) and the plain step-function loop under
autograd (``use_fast_path=False``), on CUDA and on the CPU (all its cores unless
--cpu-threads), 3 warm-up and 10 timed steps each; CUDA timings synchronise around each step
and report the peak of allocated device memory.

Then it checks that CPU and CUDA agree for the same weights and data at the SHD shape:
float64: identical spikes, loss and gradients to 1e-9 (relative); float32 (TF32 off): the loss
to 1e-4 and every gradient to 1e-3 in relative norm, with the number of spikes that differ
(a float32 rounding difference can flip a spike that sits on the threshold; any flip is
reported). Weights are nn.Linear-sized so that about a fifth of the hidden neurons spike per
step. Exits 1 when a check fails and 0 with a message when there is no CUDA device.

    .venv/bin/python benchmarks/gpu_step.py            # about a minute on one H100
    .venv/bin/python benchmarks/gpu_step.py --device cpu --steps 2   # smoke test without a GPU
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from neurocircuit.models import SpikingClassifier  # noqa: E402

N_IN, N_OUT, STEPS, P_IN = 700, 20, 100, 0.02
SHAPES = {"shd": (128, 256), "large": (256, 1000)}  # (batch, hidden)
WARMUP, TIMED = 3, 10
LINEAR_INIT_SCALE = 1.0 / math.sqrt(3.0)
LR = 2e-4


def make_data(batch: int, steps: int, dtype=torch.float32):
    generator = torch.Generator().manual_seed(1234)
    x = (torch.rand(steps, batch, N_IN, generator=generator) < P_IN).to(dtype)
    y = torch.randint(0, N_OUT, (batch,), generator=generator)
    return x, y


def make_model(hidden: int, fast: bool) -> SpikingClassifier:
    return SpikingClassifier(
        N_IN,
        hidden,
        N_OUT,
        neuron="lif_syn",
        recurrent=True,
        input_scale=LINEAR_INIT_SCALE,
        recurrent_scale=LINEAR_INIT_SCALE,
        readout_scale=LINEAR_INIT_SCALE,
        use_fast_path=fast,
        seed=0,
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_step(device: torch.device, batch: int, hidden: int, fast: bool, steps: int) -> dict:
    model = make_model(hidden, fast).to(device)
    x, y = make_data(batch, steps)
    x, y = x.to(device), y.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR)

    def step():
        optimizer.zero_grad(set_to_none=True)
        readout, spikes = model(x)
        loss = F.cross_entropy(readout.max(0).values, y)
        loss.backward()
        optimizer.step()
        return spikes

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(WARMUP):
        spikes = step()
    sync(device)
    times = []
    for _ in range(TIMED):
        t0 = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {
        "median_s": statistics.median(times),
        "best_s": min(times),
        "peak_mb": peak,
        "rate": float(spikes.detach().float().mean()),
    }


def loss_and_grads(device: torch.device, dtype: torch.dtype, steps: int):
    batch, hidden = SHAPES["shd"]
    model = make_model(hidden, fast=True).to(device=device, dtype=dtype)
    x, y = make_data(batch, steps, dtype)
    readout, spikes = model(x.to(device))
    loss = F.cross_entropy(readout.max(0).values, y.to(device))
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad])
    return (
        loss.detach().cpu(),
        spikes.detach().cpu(),
        {n: g.detach().cpu() for n, g in zip(names, grads, strict=True)},
    )


def compare(device: torch.device, dtype: torch.dtype, steps: int) -> bool:
    loss_c, spikes_c, grads_c = loss_and_grads(torch.device("cpu"), dtype, steps)
    loss_d, spikes_d, grads_d = loss_and_grads(device, dtype, steps)
    strict = dtype == torch.float64
    tol_loss, tol_grad = (1e-9, 1e-9) if strict else (1e-4, 1e-3)
    flips = int((spikes_c != spikes_d).sum())
    # float32 only: a spike sitting on the threshold may flip with rounding, and then the
    # trajectories (and gradients) legitimately part; allow 1 in 100,000 and say so
    flip_limit = 0 if strict else 1e-5 * spikes_c.numel()
    loss_err = abs(float(loss_d - loss_c)) / max(abs(float(loss_c)), 1e-30)
    ok = flips <= flip_limit and (flips > 0 or loss_err <= tol_loss)
    print(
        f"  {str(dtype):14s} loss cpu {float(loss_c):.8f} {device.type} {float(loss_d):.8f} "
        f"(rel. diff {loss_err:.1e}, tol {tol_loss:.0e}); spikes differing: {flips} of "
        f"{spikes_c.numel()} (rate {float(spikes_c.mean()):.3f})"
    )
    if float(spikes_c.mean()) == 0.0:
        print("    warning: no spikes at all, so this check says little (use T >= 20)")
    if flips:
        print("    spikes flipped by float rounding: gradient tolerances not applied")
    for name, g_cpu in grads_c.items():
        err = float((grads_d[name] - g_cpu).norm() / g_cpu.norm().clamp_min(1e-30))
        if not flips:
            ok &= err <= tol_grad
        print(f"    grad {name:8s} relative error {err:.1e} (tol {tol_grad:.0e})")
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", help="device to compare with the CPU")
    parser.add_argument("--cpu-threads", type=int, default=os.cpu_count())
    parser.add_argument("--steps", type=int, default=STEPS, help="time steps T (default 100)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here: nothing to time (run this on a machine with a GPU)")
        return 0
    torch.set_num_threads(max(1, args.cpu_threads))
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}; {device}: {name}; CPU threads {torch.get_num_threads()}")

    print(f"\n{'shape':6s} {'batch':>5s} {'hidden':>6s} {'model':6s} {'device':6s} "
          f"{'s/step':>8s} {'best':>8s} {'peak MB':>8s} {'rate':>6s}")  # fmt: skip
    results = {}
    for shape, (batch, hidden) in SHAPES.items():
        for fast in (True, False):
            for dev in (device, torch.device("cpu")):
                r = time_step(dev, batch, hidden, fast, args.steps)
                results[(shape, fast, dev.type)] = r
                peak = f"{r['peak_mb']:8.0f}" if r["peak_mb"] is not None else f"{'-':>8s}"
                print(
                    f"{shape:6s} {batch:5d} {hidden:6d} {'fast' if fast else 'plain':6s} "
                    f"{dev.type:6s} {r['median_s']:8.4f} {r['best_s']:8.4f} {peak} "
                    f"{r['rate']:6.3f}",
                    flush=True,
                )
    if device.type != "cpu":
        print()
        for shape in SHAPES:
            for fast in (True, False):
                cpu = results[(shape, fast, "cpu")]["median_s"]
                dev = results[(shape, fast, device.type)]["median_s"]
                print(
                    f"{shape} {'fast' if fast else 'plain'}: {device.type} is {cpu / dev:.1f}x CPU"
                )

    print(f"\nCPU vs {device.type}, same weights and data, SHD shape:")
    ok = all([compare(device, dtype, args.steps) for dtype in (torch.float64, torch.float32)])
    print("consistency check: " + ("PASSED" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
