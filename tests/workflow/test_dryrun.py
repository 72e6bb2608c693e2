"""The full DAG of every shipped config resolves (snakemake -n), and lint is clean."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def run_snakemake(*args):
    return subprocess.run(
        [*SNAKEMAKE, *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "extra",
    [[], ["--configfile", "config/demo.yaml"], ["--configfile", "tests/config.test.yaml"]],
    ids=["full", "demo", "test"],
)
def test_dry_run_resolves_full_dag(extra):
    result = run_snakemake("-n", "--quiet", "rules", *extra)
    assert result.returncode == 0, result.stderr[-3000:]


def test_one_fit_rule_writes_both_splits_where_they_always_were():
    """fit_activity's split wildcard: seed{seed}/ holds the in-sample fit, seed{seed}/heldout/
    the held-out one; both are the same rule, the split passed as its params."""
    run = "results/fit/tiny/rate_dale_bptt/seed0"
    targets = [f"{run}/scores.json", f"{run}/heldout/scores.json"]
    result = run_snakemake("-n", *targets, "--configfile", "tests/config.test.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    fits = [block for block in result.stdout.split("\n\n") if "rule fit_activity:" in block]
    assert len(fits) == 2, result.stdout[-3000:]
    assert any("log: results/logs/fit_activity/tiny/rate_dale_bptt/seed0.log" in b for b in fits)
    assert any("seed0/heldout.log" in block and "split=/heldout" in block for block in fits)


def test_lint_is_clean():
    result = run_snakemake("--lint", "--configfile", "config/demo.yaml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_bad_config_stops_with_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("imaging:\n  this_key_does_not_exist: 1\n")
    result = run_snakemake("-n", "--configfile", str(bad))
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "Config error" in line]
    assert lines == ["Config error: unknown config key 'imaging.this_key_does_not_exist'"]
