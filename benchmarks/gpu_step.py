#!/usr/bin/env python
"""One training step on CUDA against the CPU, and a check that both give the same numbers.

Times one step (zero_grad, forward, max-over-time cross-entropy, backward, AdamW) of
``SpikingClassifier`` (LIF with synaptic current, recurrent, leaky readout) with
  - the SHD shape: batch 128, T = 100, 700 Bernoulli(0.02) inputs, 256 hidden, 20 readouts;
  - a larger one: batch 256, T = 100, 700 inputs, 1,000 hidden, 20 readouts;
for the fast kernels (``fast_lif``, the default path) and the plain step-function loop under
autograd (``backend="reference"``), on CUDA and on the CPU (all its cores unless
--cpu-threads), 3 warm-up and 10 timed steps each; CUDA timings synchronise around each step
and report the peak of allocated device memory (--skip-timing leaves this part out).

Then it checks that CPU and CUDA agree for the same weights and data, in float64 and in float32
(TF32 off), on three paths:
  - smooth paths, where no rounding can change the trajectory, so every gradient must agree
    tightly (float64 1e-10, float32 1e-4, relative norm; the loss 1e-12 / 1e-5):
      * "rate": the fit stage's Wilson-Cowan network (522 units, Dale, 100-frame rollout, MSE);
      * "subthreshold": the SHD-shape classifier with its inputs scaled so that the peak
        membrane is 0.8 thresholds (computed in float64: without spikes the layer is linear), so
        no neuron crosses the threshold on either device (checked: zero spikes on both);
        gradients reach W_in through the surrogate; those that are zero (V, W_out: no spikes)
        must be exactly zero on both devices;
  - "spiking": the SHD-shape classifier as trained, which must spike (0.01 to 0.5 of the
    neuron-steps, else the check fails: a silent network proves nothing). float64: identical
    spikes and every gradient to 1e-9. float32: a spike within rounding of the threshold may
    flip and the trajectories then legitimately part, so at most 1 % of the spikes may differ;
    the loss must agree to 1e-4 and the gradients to 1e-3 when no spike flipped; with flips the
    gradient errors are printed, not judged.
Weights are nn.Linear-sized so that about a fifth of the hidden neurons spike per step. Exits 1
when a check fails, 0 when all pass, and 0 with a message when the device is CUDA and there is
none (``--device cpu`` runs every part on the CPU against itself: a smoke test of the script).

    .venv/bin/python benchmarks/gpu_step.py            # about a minute on one H100
    .venv/bin/python benchmarks/gpu_step.py --device cpu --skip-timing --steps 20   # no GPU
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
from neurocircuit.models import RateActivityNetwork, SpikingClassifier  # noqa: E402

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
        backend="auto" if fast else "reference",
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


SUBTHRESHOLD_PEAK = 0.8  # peak membrane of the subthreshold path, in thresholds
MAX_FLIP_FRACTION = 0.01  # float32 spiking path: at most this fraction of spikes may differ
SPIKE_RATE_RANGE = (0.01, 0.5)  # the spiking path must spike, but not saturate
RATE_UNITS, RATE_FRAMES = 522, 100  # the zebrafish recording's neurons, a 100-frame rollout
TOLERANCES = {  # (loss, gradient) relative tolerances per path kind and dtype
    ("smooth", torch.float64): (1e-12, 1e-10),
    ("smooth", torch.float32): (1e-5, 1e-4),
    ("spiking", torch.float64): (1e-9, 1e-9),
    ("spiking", torch.float32): (1e-4, 1e-3),
}


def subthreshold_input_scale(steps: int) -> float:
    """Factor for the inputs after which the SHD-shape classifier's peak membrane v~ is
    ``SUBTHRESHOLD_PEAK`` thresholds. Without spikes the layer is linear (no reset, no
    recurrent input): v~ scales with the input, and its peak at scale 1 is computed here in
    float64 on the CPU with the step equations i <- alpha i + W_in x, v~ = beta v + i."""
    batch, hidden = SHAPES["shd"]
    model = make_model(hidden, fast=False).double()
    x, _ = make_data(batch, steps, torch.float64)
    with torch.no_grad():
        current = x @ model.effective_weights()["w_in"].t()
        i = v = torch.zeros(batch, hidden, dtype=torch.float64)
        peak = 0.0
        for current_t in current.unbind(0):
            i = model.alpha * i + current_t
            v = model.beta * v + i
            peak = max(peak, float(v.max()))
    return SUBTHRESHOLD_PEAK * model.threshold / peak


def classifier_run(device: torch.device, dtype: torch.dtype, steps: int, input_scale: float):
    """Loss, spikes and named gradients of the SHD-shape classifier (fast path) on ``device``,
    with the inputs multiplied by ``input_scale``."""
    batch, hidden = SHAPES["shd"]
    model = make_model(hidden, fast=True).to(device=device, dtype=dtype)
    x, y = make_data(batch, steps, dtype)
    readout, spikes = model((x * input_scale).to(device))
    loss = F.cross_entropy(readout.max(0).values, y.to(device))
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, [p for _, p in named])
    return (
        loss.detach().cpu(),
        spikes.detach().cpu(),
        {name: g.detach().cpu() for (name, _), g in zip(named, grads, strict=True)},
    )


def rate_run(device: torch.device, dtype: torch.dtype, steps: int):
    """Loss and named gradients of a Wilson-Cowan network (``RateActivityNetwork``, Dale,
    ``RATE_UNITS`` units) rolled out ``steps`` frames against a fixed target (MSE): smooth, no
    threshold anywhere. Returns (loss, None, grads)."""
    network = RateActivityNetwork(RATE_UNITS, dale=True, seed=0).to(device=device, dtype=dtype)
    generator = torch.Generator().manual_seed(4321)
    target = torch.rand(steps, RATE_UNITS, generator=generator, dtype=dtype).to(device)
    prediction = network(target[0:1], steps)[:, 0]
    loss = (prediction[1:] - target[1:]).square().mean()
    named = [(name, p) for name, p in network.named_parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, [p for _, p in named])
    return (
        loss.detach().cpu(),
        None,
        {name: g.detach().cpu() for (name, _), g in zip(named, grads, strict=True)},
    )


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got - want).norm() / want.norm().clamp_min(1e-30))


def compare_grads(grads_c: dict, grads_d: dict, tol: float, judged: bool) -> bool:
    """Print each gradient's relative error; with ``judged``, each must be within ``tol``, and a
    gradient that is exactly zero on the CPU must be exactly zero on the device. At least one
    gradient must be non-zero (else the comparison says nothing)."""
    ok = any(bool(g.ne(0).any()) for g in grads_c.values())
    if not ok:
        print("    every gradient is zero on the CPU: nothing compared")
    for name, g_cpu in grads_c.items():
        g_dev = grads_d[name]
        if not bool(g_cpu.ne(0).any()):
            exact = not bool(g_dev.ne(0).any())
            ok &= exact or not judged
            print(
                f"    grad {name:34s} zero on the CPU, {'zero' if exact else 'NOT zero'} on device"
            )
            continue
        err = relative_error(g_dev, g_cpu)
        passed = err <= tol
        ok &= passed or not judged
        verdict = ("ok" if passed else "FAIL") if judged else "not judged"
        print(f"    grad {name:34s} relative error {err:.1e} (tol {tol:.0e}) {verdict}")
    return ok


def compare(path: str, device: torch.device, dtype: torch.dtype, steps: int, scale: float) -> bool:
    """CPU against ``device`` on one path ("rate", "subthreshold", "spiking"); True if it passes."""
    if path == "rate":
        cpu, dev = (rate_run(d, dtype, RATE_FRAMES) for d in (torch.device("cpu"), device))
    else:
        input_scale = scale if path == "subthreshold" else 1.0
        cpu, dev = (
            classifier_run(d, dtype, steps, input_scale) for d in (torch.device("cpu"), device)
        )
    (loss_c, spikes_c, grads_c), (loss_d, spikes_d, grads_d) = cpu, dev
    kind = "spiking" if path == "spiking" else "smooth"
    tol_loss, tol_grad = TOLERANCES[(kind, dtype)]
    loss_err = abs(float(loss_d - loss_c)) / max(abs(float(loss_c)), 1e-30)
    line = (
        f"  {path:12s} {str(dtype):14s} loss cpu {float(loss_c):.10f} {device.type} "
        f"{float(loss_d):.10f} (rel. diff {loss_err:.1e}, tol {tol_loss:.0e})"
    )
    failures = []
    judged = True
    if spikes_c is not None:
        flips = int((spikes_c != spikes_d).sum())
        rate = float(spikes_c.float().mean())
        line += f"; spike rate {rate:.3f}; spikes differing: {flips} of {spikes_c.numel()}"
        if path == "subthreshold":
            crossed = int(spikes_c.sum()) + int(spikes_d.sum())
            if crossed:
                failures.append(f"{crossed} threshold crossings on the subthreshold path")
        else:
            low, high = SPIKE_RATE_RANGE
            if not low <= rate <= high:
                failures.append(f"spike rate {rate:.3f} outside [{low}, {high}] (use T >= 20)")
            limit = 0 if dtype == torch.float64 else MAX_FLIP_FRACTION * int(spikes_c.sum())
            if flips > limit:
                failures.append(f"{flips} spikes differ, more than {limit:.0f}")
            judged = flips == 0  # once spikes part, so do the trajectories and gradients
    if judged and loss_err > tol_loss:
        failures.append(f"the loss differs by {loss_err:.1e}")
    print(line)
    for failure in failures:
        print(f"    FAIL: {failure}")
    if not judged:
        print("    spikes flipped by float rounding: loss and gradient errors reported, not judged")
    ok = not failures
    ok &= compare_grads(grads_c, grads_d, tol_grad, judged)
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", help="device to compare with the CPU")
    parser.add_argument("--cpu-threads", type=int, default=os.cpu_count())
    parser.add_argument("--steps", type=int, default=STEPS, help="time steps T (default 100)")
    parser.add_argument("--skip-timing", action="store_true", help="only the consistency check")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here: skipped (run it on a GPU, or --device cpu for a smoke test)")
        return 0
    torch.set_num_threads(max(1, args.cpu_threads))
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}; {device}: {name}; CPU threads {torch.get_num_threads()}")

    if not args.skip_timing:
        time_all(device, args.steps)

    scale = subthreshold_input_scale(args.steps)
    print(f"\nCPU vs {device.type}, same weights and data (subthreshold input scale {scale:.3f}):")
    ok = True
    for path in ("rate", "subthreshold", "spiking"):
        for dtype in (torch.float64, torch.float32):
            ok &= compare(path, device, dtype, args.steps, scale)
    print("consistency check: " + ("PASSED" if ok else "FAILED"))
    return 0 if ok else 1


def time_all(device: torch.device, steps: int) -> None:
    """Time every shape and path on ``device`` and on the CPU and print the table."""
    print(f"\n{'shape':6s} {'batch':>5s} {'hidden':>6s} {'model':6s} {'device':6s} "
          f"{'s/step':>8s} {'best':>8s} {'peak MB':>8s} {'rate':>6s}")  # fmt: skip
    results = {}
    for shape, (batch, hidden) in SHAPES.items():
        for fast in (True, False):
            for dev in (device, torch.device("cpu")):
                r = time_step(dev, batch, hidden, fast, steps)
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


if __name__ == "__main__":
    sys.exit(main())
