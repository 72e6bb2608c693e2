"""The harness that benchmarks/step_time.py and benchmarks/fit_speed.py share.

Protocol: the script (the orchestrator) runs every cell of its comparison, a (group, member)
pair such as (configuration, side), in a fresh worker process: the same script again with
``--worker`` (:func:`run_worker`), so that each cell's peak memory is its own. The worker
(:func:`start_worker`, :func:`guarded`, :func:`time_steps`) sets the threads and the glibc
allocator, times its warm-up and timed steps, reads its peak resident memory and the share of
the machine's CPU time that other processes took while it timed, and answers with one
``RESULT <json>`` line on stdout (:func:`print_result`). The rounds alternate the order of the
members (:func:`run_rounds`), so slow drifts of the machine hit every member alike, and can wait
for a quiet machine before each run (:func:`wait_quiet`). :func:`summarise` takes the median
over the runs that ran on a quiet machine, and :func:`print_table` prints one row per cell.

Both scripts run as ``python benchmarks/<script>.py`` (their workers too), so this folder is on
``sys.path`` and ``from _harness import ...`` finds it. Linux only: memory and CPU time are
read from /proc.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

BUSY = 0.15
"""A run during which other processes used more than this share of the CPU is starred."""

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


# ----------------------------------------------------------------------------- /proc readings
def status_mb(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS, VmHWM, ...) in MB; NaN where missing."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux clear_refs '5'); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def cpu_snapshot() -> tuple[int, int, int]:
    """(busy jiffies of the machine, all jiffies, jiffies of this process)."""
    with open("/proc/stat") as f:
        vals = list(map(int, f.readline().split()[1:9]))
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(vals) - vals[3] - vals[4], sum(vals), int(fields[11]) + int(fields[12])


def foreign_load(before, after) -> float:
    """Share of the machine's CPU time used by other processes between two snapshots."""
    busy, total, own = (b - a for a, b in zip(before, after, strict=True))
    return max(0.0, (busy - own) / total) if total > 0 else float("nan")


def wait_quiet(max_wait: float, threshold: float = 0.10, window: float = 3.0):
    """Wait up to max_wait s until other processes use < threshold of the machine's CPU."""
    start = time.perf_counter()
    while True:
        before = cpu_snapshot()
        time.sleep(window)
        load = foreign_load(before, cpu_snapshot())
        waited = time.perf_counter() - start
        if load < threshold or waited >= max_wait:
            return load, waited


# ----------------------------------------------------------------------------- worker side
def start_worker(threads: int, allocator: str, **fields) -> dict:
    """Set torch's threads, seed 0 and the glibc allocator ("kept": freed blocks kept for
    reuse, as neurocircuit.runtime.configure_cpu_allocator sets it for the training rules;
    "default": glibc's own); the worker's answer so far (``fields``, versions, threads)."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    out = {**fields, "torch": torch.__version__, "threads": torch.get_num_threads()}
    if allocator == "kept":
        from neurocircuit.runtime import configure_cpu_allocator

        out["allocator"] = "kept" if configure_cpu_allocator() else "default (not glibc)"
    else:
        out["allocator"] = "default"
    return out


def guarded(out: dict, measure: Callable[[dict], None]) -> dict:
    """``out`` after ``measure(out)`` filled it in (``ok`` True), or with the error and its
    traceback (``ok`` False): a failed cell is reported in the table instead of stopping the
    benchmark."""
    try:
        measure(out)
        out["ok"] = True
    except Exception as error:
        import traceback

        out.update(ok=False, error=f"{type(error).__name__}: {error}")
        out["traceback"] = traceback.format_exc()[-3000:]
    return out


def begin_measuring(out: dict) -> None:
    """Note the resident memory before the steps and reset the peak to it."""
    out["rss_before_mb"] = status_mb("VmRSS")
    out["peak_reset"] = reset_peak_rss()


def record_times(out: dict, times: list[float], before) -> None:
    """The timed steps' seconds, their median and best, the other processes' share of the CPU
    since the snapshot ``before``, the peak resident memory and what the steps added to it."""
    out["foreign_load"] = foreign_load(before, cpu_snapshot())
    peak = status_mb("VmHWM")
    out.update(
        times=times,
        median_s=statistics.median(times),
        best_s=min(times),
        peak_rss_mb=peak,
        growth_mb=peak - out["rss_before_mb"],
    )


def time_steps(step: Callable[[], object], warmup: int, iters: int, out: dict) -> list:
    """Run ``step`` ``warmup`` times, then ``iters`` times timed, and record the measurements
    in ``out`` (:func:`record_times`; ``warmup_s``: the warm-up steps' seconds). Returns what
    every call of ``step`` returned, warm-up first."""
    begin_measuring(out)
    values, warm, times = [], [], []
    for _ in range(warmup):
        start = time.perf_counter()
        values.append(step())
        warm.append(time.perf_counter() - start)
    before = cpu_snapshot()
    for _ in range(iters):
        start = time.perf_counter()
        values.append(step())
        times.append(time.perf_counter() - start)
    record_times(out, times, before)
    out["warmup_s"] = warm
    return values


def print_result(result: dict) -> None:
    """The worker's answer to the orchestrator: one ``RESULT <json>`` line on stdout."""
    print("RESULT " + json.dumps(result), flush=True)


# ----------------------------------------------------------------------------- orchestrator
def worker_env(threads: int, paths: Sequence[str | Path]) -> dict:
    """The environment of a worker: ``threads`` threads for every BLAS and OpenMP, ``paths``
    ahead of the caller's PYTHONPATH, warnings off unless the caller set them."""
    env = dict(os.environ)
    for var in THREAD_VARIABLES:
        env[var] = str(threads)
    entries = [str(p) for p in paths] + [env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in entries if p)
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


def worker_result(proc: subprocess.CompletedProcess, **extra) -> dict:
    """The dict a finished worker printed with print_result, or a failed run (``ok`` False,
    the last line of its stderr as ``error``) that starts with ``extra``."""
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {**extra, "ok": False, "error": f"worker failed (rc={proc.returncode}): {tail}"}


def run_worker(script: str, worker_args: list[str], env: dict, timeout: float, **extra) -> dict:
    """Run ``script --worker ...`` (``worker_args``) in a fresh process and an empty temporary
    folder; its answer, or a failed run (``ok`` False) starting with ``extra``."""
    command = [sys.executable, str(Path(script).resolve()), "--worker", *worker_args]
    with tempfile.TemporaryDirectory(prefix="benchmark_") as work:
        try:
            proc = subprocess.run(
                command, capture_output=True, text=True, env=env, cwd=work, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return {**extra, "ok": False, "error": f"timeout after {timeout:.0f} s"}
    return worker_result(proc, **extra)


def alternating(members: Sequence[str], index: int) -> list[str]:
    """The order of ``members`` in round ``index``: rotated by one place a round, so that each
    member runs first once in every ``len(members)`` rounds, and reversed in every other such
    cycle, so that no member always runs right after the same one (two members: ab, ba, ba,
    ab, ...)."""
    members = list(members)
    if not members:
        return members
    shift, cycle = index % len(members), index // len(members)
    order = members[shift:] + members[:shift]
    return order[::-1] if cycle % 2 else order


def run_rounds(
    rounds: int,
    groups: Sequence[str],
    members: Sequence[str],
    run_one: Callable[[str, str], dict],
    *,
    wait_quiet_s: float = 0.0,
    progress: Callable[[int, str, str, dict], str] | None = None,
) -> dict[str, dict[str, list[dict]]]:
    """Every (group, member) cell once per round, the members of each group in the round's
    :func:`alternating` order, each after waiting up to ``wait_quiet_s`` s for a quiet machine;
    ``progress(round, group, member, result)`` is printed to stderr after each run. Returns
    ``results[group][member]``, the list of the cell's runs."""
    results = {group: {member: [] for member in members} for group in groups}
    for index in range(rounds):
        for group in groups:
            for member in alternating(members, index):
                if wait_quiet_s > 0:
                    wait_quiet(wait_quiet_s)
                result = run_one(group, member)
                results[group][member].append(result)
                if progress is not None:
                    print(progress(index, group, member, result), file=sys.stderr, flush=True)
    return results


def write_json(path: str | None, results: dict) -> None:
    """Every run's raw numbers, where ``--json-out`` asks for them."""
    if path:
        Path(path).write_text(json.dumps(results, indent=1))


def summarise(runs: list[dict], pooled: bool) -> dict | None:
    """One cell's runs in one row; None when none succeeded. The median is taken over the runs
    on a quiet machine (other processes' share of the CPU at most :data:`BUSY`; all runs when
    none was): over every timed step of them (``pooled``) or over their medians."""
    ok = [r for r in runs if r.get("ok")]
    if not ok:
        return None
    quiet = [r for r in ok if not r["foreign_load"] > BUSY] or ok
    if pooled:
        median = statistics.median(t for r in quiet for t in r["times"])
    else:
        median = statistics.median(r["median_s"] for r in quiet)
    return {
        "median_s": median,
        "best_s": min(r["best_s"] for r in quiet),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in ok),
        "growth_mb": max(r["growth_mb"] for r in ok),
        "other": statistics.median(r["foreign_load"] for r in ok),
        "runs": [r["median_s"] for r in ok],
        "starred": [r["foreign_load"] > BUSY for r in ok],
        "what": ok[0]["what"],
        "peak_reset": all(r.get("peak_reset", True) for r in ok),
        "first": ok[0],
    }


def format_runs(summary: dict) -> str:
    """The per-run medians of a summary, starred where the machine was busy."""
    return ", ".join(
        f"{m:.3f}{'*' if star else ''}"
        for m, star in zip(summary["runs"], summary["starred"], strict=True)
    )


@dataclass(frozen=True)
class Column:
    """A numeric column of the table: its title, width, format spec and value of a summary."""

    title: str
    width: int
    spec: str
    value: Callable[[dict], float]


def table_header(labels: Sequence[tuple[str, int]], columns: Sequence[Column], unit: str) -> str:
    """The header: label titles left-aligned, column titles right-aligned, then the runs."""
    cells = [f"{title:{width}s}" for title, width in labels]
    cells += [f"{c.title:>{c.width}s}" for c in columns]
    return " ".join(cells) + f"  runs (median {unit}; * = busy machine)  what"


def print_table(
    rows: Sequence[tuple[tuple[str, ...], list[dict]]],
    labels: Sequence[tuple[str, int]],
    columns: Sequence[Column],
    unit: str,
    pooled: bool,
) -> dict[tuple[str, ...], dict | None]:
    """Print a header and one row per cell (``rows``: the cell's label values and its runs),
    FAILED with the first error where no run succeeded; the summaries by label values."""
    header = table_header(labels, columns, unit)
    print(header)
    print("-" * len(header))
    summaries = {}
    for names, runs in rows:
        s = summarise(runs, pooled)
        summaries[names] = s
        label = " ".join(f"{name:{width}s}" for name, (_, width) in zip(names, labels, strict=True))
        if s is None:
            error = runs[0].get("error", "?") if runs else "not run"
            print(f"{label} FAILED: {error[:200]}")
            continue
        values = " ".join(f"{c.value(s):{c.width}{c.spec}}" for c in columns)
        print(f"{label} {values}  {format_runs(s)}  {s['what']}")
    return summaries


def geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def add_harness_arguments(parser, timeout: float, threads: int) -> None:
    """The options every benchmark takes: threads, timeout, the quiet-machine wait, whether to
    install missing peers, the raw numbers' file, and the hidden worker options."""
    parser.add_argument("--threads", type=int, default=threads, help="torch threads")
    parser.add_argument("--timeout", type=float, default=timeout, help="seconds per run")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="before each run, wait up to this many seconds for other processes "
        "to use < 10%% of the CPU",
    )
    parser.add_argument("--no-install", action="store_true", help="do not install missing peers")
    parser.add_argument("--json-out", help="also write every run's raw numbers here")


def ensure_installed(folders: Sequence[Path], command: list[str], what: str, install: bool) -> bool:
    """Whether every folder of a peer exists, after running ``command`` once to install it
    when one is missing (unless not ``install``)."""
    if all(folder.is_dir() for folder in folders):
        return True
    if not install:
        print(f"{what} missing in {folders[0].parent}", file=sys.stderr)
        return False
    print(f"installing {what} into {folders[0].parent} (once) ...", file=sys.stderr)
    return subprocess.run(command, check=False).returncode == 0
