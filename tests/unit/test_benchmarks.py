"""The benchmarks' shared harness (benchmarks/_harness.py) and what fit_speed.py prints.

Nothing here is timed: the harness's bookkeeping is checked on made-up runs, and the slow
smoke tests only check that the scripts run and print their last-line figures.
"""

import importlib
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "benchmarks"
ZEBRAFISH = REPO.parent / "shared" / "data" / "zebrafish" / "Stimulus_data_2022_02_23_fish3_1.npy"


def benchmark_module(name: str):
    """A module of benchmarks/, imported as the scripts import each other (folder on the path)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module(name)


harness = benchmark_module("_harness")
fit_speed = benchmark_module("fit_speed")


def made_up_run(median: float, load: float = 0.0, times=None, ok: bool = True) -> dict:
    """A worker's answer as the harness reads it."""
    if not ok:
        return {"ok": False, "error": "RuntimeError: broken"}
    times = times or [median]
    return {"ok": True, "median_s": median, "best_s": min(times), "times": times,
            "foreign_load": load, "peak_rss_mb": 1000.0, "growth_mb": 50.0, "what": "x",
            "peak_reset": True, "spike_rate": 0.2}  # fmt: skip


def test_alternating_puts_each_member_first_and_varies_its_neighbours():
    members = ["ours", "plain", "floor"]
    orders = [harness.alternating(members, index) for index in range(6)]
    assert orders[:3] == [members, ["plain", "floor", "ours"], ["floor", "ours", "plain"]]
    assert orders[3] == ["floor", "plain", "ours"]  # the second cycle runs reversed
    assert all(sorted(order) == sorted(members) for order in orders)
    assert [harness.alternating("ab", index) for index in range(4)] == [
        ["a", "b"], ["b", "a"], ["b", "a"], ["a", "b"]]  # fmt: skip
    assert harness.alternating([], 3) == []


def test_run_rounds_runs_every_cell_once_a_round(capsys):
    calls = []

    def run_one(group, member):
        calls.append((group, member))
        return {"n": len(calls)}

    results = harness.run_rounds(
        2, ["a", "b"], ["x", "y"], run_one, progress=lambda i, g, m, r: f"[{i}] {g} {m}"
    )
    assert calls == [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"),
                     ("a", "y"), ("a", "x"), ("b", "y"), ("b", "x")]  # fmt: skip
    assert results["a"]["x"] == [{"n": 1}, {"n": 6}]
    assert capsys.readouterr().err.splitlines()[0] == "[0] a x"


def test_summarise_takes_the_median_of_the_quiet_runs():
    runs = [
        made_up_run(1.0, times=[0.9, 1.0, 1.4]),
        made_up_run(9.0, load=0.5, times=[9.0]),
        made_up_run(3.0, times=[3.0]),
        made_up_run(0.0, ok=False),
    ]
    pooled = harness.summarise(runs, pooled=True)
    assert pooled["median_s"] == pytest.approx(1.2)  # median of 0.9, 1.0, 1.4, 3.0
    assert pooled["best_s"] == 0.9
    assert pooled["runs"] == [1.0, 9.0, 3.0]
    assert pooled["starred"] == [False, True, False]
    assert harness.summarise(runs, pooled=False)["median_s"] == pytest.approx(2.0)
    busy_only = harness.summarise([made_up_run(2.0, load=0.9)], pooled=False)
    assert busy_only["median_s"] == 2.0
    assert harness.summarise([made_up_run(0.0, ok=False)], pooled=True) is None


def test_fit_speed_table_keeps_its_columns(capsys):
    rows = [(("rate_dale", "ours"), [made_up_run(0.027)]),
            (("rate_dale", "plain"), [made_up_run(0.0, ok=False)])]  # fmt: skip
    harness.print_table(rows, fit_speed.LABELS, fit_speed.COLUMNS, "s/it", pooled=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "config        side          s/it    best  peak MB    +MB  other  "
        "runs (median s/it; * = busy machine)  what"
    )
    assert lines[1] == "-" * len(lines[0])
    assert lines[2] == ("rate_dale     ours         0.027   0.027     1000     50   0.00  0.027  x")
    assert lines[3] == "rate_dale     plain      FAILED: RuntimeError: broken"


def test_worker_result_reads_the_result_line_or_the_error():
    good = subprocess.CompletedProcess([], 0, stdout='noise\nRESULT {"ok": true}\n', stderr="")
    assert harness.worker_result(good) == {"ok": True}
    bad = subprocess.CompletedProcess([], 1, stdout="", stderr="Traceback\nValueError: no\n")
    result = harness.worker_result(bad, name="ours")
    assert result == {"name": "ours", "ok": False,
                      "error": "worker failed (rc=1): ValueError: no"}  # fmt: skip


def test_time_steps_times_only_the_steps_after_the_warmup():
    counter = iter(range(10))
    out = {}
    values = harness.time_steps(lambda: next(counter), 2, 3, out)
    assert values == [0, 1, 2, 3, 4]
    assert len(out["warmup_s"]) == 2 and len(out["times"]) == 3
    assert out["median_s"] >= out["best_s"] >= 0
    assert out["growth_mb"] == out["peak_rss_mb"] - out["rss_before_mb"]


def test_guarded_reports_a_failed_measurement():
    def broken(out):
        raise ValueError("no data")

    out = harness.guarded({"side": "ours"}, broken)
    assert out["ok"] is False and out["error"] == "ValueError: no data"
    assert harness.guarded({}, lambda out: out.update(x=1)) == {"x": 1, "ok": True}


def test_worker_env_sets_every_thread_count(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    env = harness.worker_env(2, [Path("/a"), "/b"])
    assert all(env[var] == "2" for var in harness.THREAD_VARIABLES)
    assert env["PYTHONPATH"].split(":") == ["/a", "/b", "/elsewhere"]


def test_eprop_vs_bptt_is_the_median_eprop_iteration_over_bptt(capsys):
    results = {"spiking_dale": {"eprop": [made_up_run(1.5, times=[1.4, 1.5, 1.6])],
                                "bptt": [made_up_run(0.05, times=[0.05, 0.06])]}}  # fmt: skip
    ratio = fit_speed.print_eprop(results, 2, "as-run")
    assert ratio == pytest.approx(1.5 / 0.055)
    assert "eprop/bptt 27.273" in capsys.readouterr().out
    results["spiking_dale"]["eprop"] = [made_up_run(0.0, ok=False)]
    assert math.isnan(fit_speed.print_eprop(results, 2, "as-run"))


def test_fit_speed_runs_one_comparison_on_request():
    parser = fit_speed.build_parser()
    assert parser.parse_args(["--only", "eprop"]).only == "eprop"
    assert parser.parse_args([]).only is None
    with pytest.raises(SystemExit):
        parser.parse_args(["--only", "everything"])


def run_script(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    command = [sys.executable, str(BENCHMARKS / args[0]), *args[1:]]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO)


@pytest.mark.slow
@pytest.mark.skipif(not ZEBRAFISH.is_file(), reason="the zebrafish recording is not in ../shared")
def test_fit_speed_eprop_smoke_prints_its_figure():
    proc = run_script("fit_speed.py", "--only", "eprop", "--rounds", "1", "--iters", "1",
                      "--warmup", "0", "--data", str(ZEBRAFISH))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "FAILED" not in proc.stdout, proc.stdout
    assert re.fullmatch(r"eprop_vs_bptt=\d+\.\d{3}", proc.stdout.splitlines()[-1])


@pytest.mark.slow
def test_step_time_smoke_prints_its_figure():
    proc = run_script("step_time.py", "--only", "ours", "--no-install")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "FAILED" not in proc.stdout, proc.stdout
    assert proc.stdout.splitlines()[-1] == "ratio_vs_fastest_peer=nan"  # no peer ran


@pytest.mark.slow
def test_gpu_step_cpu_dry_run_passes():
    proc = run_script("gpu_step.py", "--device", "cpu", "--skip-timing", "--steps", "20")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stdout.splitlines()[-1] == "consistency check: PASSED"
