"""Measuring helpers shared by benchmarks/step_time.py and benchmarks/fit_speed.py.

Both scripts run as ``python benchmarks/<script>.py`` (their workers too: they re-run the script
with ``--worker``), so this folder is on ``sys.path`` and ``from _measure import ...`` finds it.
Linux only: memory and CPU time are read from /proc.
"""

from __future__ import annotations

import json
import subprocess
import time


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


def print_result(result: dict) -> None:
    """The worker's answer to the orchestrator: one ``RESULT <json>`` line on stdout."""
    print("RESULT " + json.dumps(result), flush=True)


def worker_result(proc: subprocess.CompletedProcess, **extra) -> dict:
    """The dict a finished worker printed with print_result, or a failed run (``ok`` False,
    the last line of its stderr as ``error``) that starts with ``extra``."""
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {**extra, "ok": False, "error": f"worker failed (rc={proc.returncode}): {tail}"}


def format_runs(summary: dict) -> str:
    """The per-run medians of a summary, starred where the machine was busy."""
    return ", ".join(
        f"{m:.3f}{'*' if star else ''}"
        for m, star in zip(summary["runs"], summary["starred"], strict=True)
    )
