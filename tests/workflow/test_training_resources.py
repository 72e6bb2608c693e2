"""Training jobs on a machine without a GPU: one thread and no GPU token each, so they run side
by side up to --cores (neurocircuit/workflow/resources.py); explicit settings still win."""

import re

import pytest
from conftest import ROOT, TEST_CONFIG, run_snakemake

TARGETS = (
    "results/fit/tiny/rate_dale_bptt/seed0/scores.json",
    "results/classification/digits/lif/seed0/metrics.json",
)
NO_GPU = {"CUDA_VISIBLE_DEVICES": ""}


def planned_jobs(*args: str, env: dict | None = None, cores: int = 2) -> dict:
    """{rule: {(threads, gpu), ...}} of the training jobs a dry run plans (Snakemake prints
    ``threads:`` only above 1)."""
    result = run_snakemake(
        ROOT, "-n", "--cores", str(cores), *TARGETS, "--configfile", TEST_CONFIG, *args, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    planned = {}
    for block in result.stdout.split("\n\n"):
        rule = re.search(r"^rule (fit_activity|classification_train):", block, re.M)
        if rule:
            threads = re.search(r"^\s+threads: (\d+)", block, re.M)
            gpu = re.search(r"^\s+resources: .*\bgpu=(\d+)", block, re.M)
            assert gpu, block
            resolved = (int(threads.group(1)) if threads else 1, int(gpu.group(1)))
            planned.setdefault(rule.group(1), set()).add(resolved)
    return planned


def test_without_a_gpu_training_jobs_take_one_thread_and_no_gpu_token():
    planned = planned_jobs(env=NO_GPU)
    assert planned == {"fit_activity": {(1, 0)}, "classification_train": {(1, 0)}}


@pytest.mark.parametrize(
    "args, expected",
    [
        (
            ["--set-threads", "fit_activity=2", "--set-resources", "fit_activity:gpu=1"],
            {"fit_activity": {(2, 1)}, "classification_train": {(1, 0)}},
        ),
        (
            ["--config", "device=cuda"],
            {"fit_activity": {(2, 1)}, "classification_train": {(4, 1)}},
        ),
    ],
    ids=["explicit-settings-win", "device-cuda"],
)
def test_explicit_settings_and_a_gpu_device_give_the_gpu_values(args, expected):
    assert planned_jobs(*args, env=NO_GPU, cores=4) == expected
