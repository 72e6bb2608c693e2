"""The workflow on a real SLURM cluster, through profiles/slurm, gives the same results as locally.

The test starts a one-node SLURM cluster on 127.0.0.1 (``slurm_cluster.py``: Debian's slurm-wlm
and munge, which ``.ci/run`` installs) and runs a small part of the workflow (the test config's
imaging session and one digits classifier) through ``profiles/slurm/config.yaml`` with only its
site values changed, the way the README tells users to:

- partitions -> the test cluster's one partition; no account; ``squeue`` for job status (no
  slurmdbd here);
- CPUs, memory and threads capped to half of what the one node has (2 cores on CI), so that two
  jobs run side by side; the local run gets the same thread counts, so both compute the same;
- the GPU request stays: the node advertises one count-only GPU (no device), so SLURM schedules
  ``--gpus=1`` for training exactly as on a GPU partition, and torch falls back to the CPU.

It checks that every non-local job went through SLURM (a SLURM job id in Snakemake's log, the job
COMPLETED in ``scontrol``, the rule's name in its comment, its SLURM log file, the GPU and CPUs it
asked for, the thread count inside the job), that a plot (a local rule) was made without SLURM,
and that the metrics and ΔF/F equal those of a local run.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from conftest import (
    ROOT,
    TEST_CONFIG,
    comparable_metrics,
    copy_workflow,
    read_json,
    run_snakemake,
)
from slurm_cluster import SlurmCluster, local_slurm_cluster, unavailable_reason

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

IMAGING_SESSION = "tiny"
CLASSIFICATION_RUN = "digits/lif/seed0"
TARGETS = (
    f"results/imaging/{IMAGING_SESSION}/metrics.json",
    f"results/classification/{CLASSIFICATION_RUN}/metrics.json",
)
# A plot: a local rule, made by Snakemake on the submitting machine, never submitted.
LOCAL_TARGET = f"results/imaging/{IMAGING_SESSION}/qc.png"
LOCAL_RULE = "imaging_qc_figure"
GPU_RULE = "classification_train"
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (.+?)\)")
# Keys of a run's metrics.json that say how it ran, not what it computed.
RUN_ONLY_KEYS = ("resumed_from_epoch",)


@pytest.fixture(scope="module")
def slurm_cluster():
    reason = unavailable_reason()
    if reason:
        if os.environ.get("NEUROCIRCUIT_REQUIRE_SLURM"):
            pytest.fail(f"NEUROCIRCUIT_REQUIRE_SLURM is set but {reason}")
        pytest.skip(reason)
    with local_slurm_cluster() as cluster:
        yield cluster


def site_profile(folder: Path, cluster: SlurmCluster) -> Path:
    """profiles/slurm/config.yaml with its site values set for ``cluster``; returns its folder.

    Only what a user edits changes (partition, account, status command) plus the caps a 2-core
    node needs; the executor, rules' GPU requests and the rest of the profile stay as shipped.
    """
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    profile.update(
        {
            "slurm-no-account": True,
            "slurm-status-command": "squeue",
            "slurm-init-seconds-before-status-checks": 2,
            "slurm-keep-successful-logs": True,
            "latency-wait": 5,
            "retries": 0,
            "keep-going": False,
        }
    )
    defaults = profile["default-resources"]
    defaults["slurm_partition"] = cluster.partition
    defaults.pop("slurm_account", None)
    mem_per_job = cluster.memory_mb // cluster.cpus
    cpus_per_job = max(1, cluster.cpus // 2)
    for resources in profile.get("set-resources", {}).values():
        if "slurm_partition" in resources:
            resources["slurm_partition"] = cluster.partition
        if "mem_mb" in resources:
            resources["mem_mb"] = min(resources["mem_mb"], mem_per_job)
        if "cpus_per_gpu" in resources:
            resources["cpus_per_gpu"] = min(resources["cpus_per_gpu"], cpus_per_job)
        if "gpu" in resources:
            resources["gpu"] = min(resources["gpu"], cluster.gpus)
    profile["max-threads"] = cpus_per_job
    profile["set-threads"] = {
        rule: min(threads, cpus_per_job) for rule, threads in profile["set-threads"].items()
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


def rule_headers(output: str, kind: str) -> set[str]:
    """Rules whose jobs Snakemake started, ``kind`` "rule" (remote) or "localrule"."""
    pattern = re.compile(rf"^{kind} (\w+):$", re.MULTILINE)
    return set(pattern.findall(output))


def without_run_only_keys(metrics: dict) -> dict:
    return {
        key: value for key, value in comparable_metrics(metrics).items() if key not in RUN_ONLY_KEYS
    }


def test_unavailable_reason_says_what_is_missing(monkeypatch, tmp_path):
    """The skip reason names the missing programs and how to install them, and an existing
    config that the test did not write is never replaced."""
    import slurm_cluster as helper

    monkeypatch.setattr(helper.os, "geteuid", lambda: 0)
    monkeypatch.setattr("pwd.getpwnam", lambda name: name)
    monkeypatch.setattr(helper.shutil, "which", lambda name: None if name == "munged" else name)
    reason = helper.unavailable_reason()
    assert "munged" in reason and "apt-get install -y slurm-wlm munge" in reason

    foreign = tmp_path / "slurm.conf"
    foreign.write_text("ClusterName=the-lab\n")
    monkeypatch.setattr(helper.shutil, "which", lambda name: name)
    monkeypatch.setattr(helper, "SLURM_CONF", foreign)
    reason = helper.unavailable_reason()
    assert reason is not None and str(foreign) in reason and "not replacing" in reason

    monkeypatch.setattr(helper.os, "geteuid", lambda: 1000)
    assert "root" in helper.unavailable_reason()


def test_local_cluster_runs_a_batch_job(slurm_cluster, tmp_path):
    """The cluster itself: sbatch, an srun step, a GPU request, and the job's end state."""
    output = tmp_path / "job.out"
    job_id = slurm_cluster.command(
        "sbatch",
        "--parsable",
        "--gpus=1",
        f"--output={output}",
        "--wrap",
        "srun -n1 hostname; echo SLURM_GPUS=$SLURM_GPUS",
    ).stdout.strip()
    slurm_cluster.wait_for_jobs([job_id], timeout_s=60)
    info = slurm_cluster.job_info(job_id)
    assert info["JobState"] == "COMPLETED", info
    text = output.read_text()
    assert slurm_cluster.hostname in text and "SLURM_GPUS=1" in text, text


def test_workflow_through_slurm_profile_equals_local_run(
    slurm_cluster, tmp_path, workflow_snapshot
):
    profile = site_profile(tmp_path / "site_profile", slurm_cluster)
    profile_settings = yaml.safe_load((profile / "config.yaml").read_text())
    threads = profile_settings["set-threads"]
    same_threads = [f"{rule}={n}" for rule, n in threads.items()]

    # Both runs see the very same workflow files (the session's snapshot).
    on_slurm = copy_workflow(tmp_path / "on_slurm", workflow_snapshot)
    local = copy_workflow(tmp_path / "local", workflow_snapshot)
    result = run_snakemake(
        on_slurm,
        *TARGETS,
        LOCAL_TARGET,
        "--workflow-profile",
        str(profile),
        "--configfile",
        TEST_CONFIG,
        timeout=240,
        check=True,
    )
    output = result.stdout + result.stderr

    # Every non-local job was submitted to SLURM and completed there.
    submitted = SUBMITTED.findall(output)
    remote_rules = rule_headers(output, "rule")
    assert GPU_RULE in remote_rules and "imaging_suite2p_plane" in remote_rules, output[-3000:]
    assert len(submitted) == len(re.findall(r"^rule \w+:$", output, re.MULTILINE))
    rules_seen_by_slurm = set()
    for _, slurm_id, log_path in submitted:
        info = slurm_cluster.job_info(slurm_id)
        assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", info
        comment = info["Comment"]  # rule_<rule> or rule_<rule>_wildcards_<values>
        rule = next(
            r
            for r in remote_rules
            if comment == f"rule_{r}" or comment.startswith(f"rule_{r}_wildcards_")
        )
        rules_seen_by_slurm.add(rule)
        assert Path(log_path).is_file(), f"no SLURM log {log_path}"
        assert f"rule {rule}:" in Path(log_path).read_text()
        if rule == GPU_RULE:
            assert "gpu:1" in info.get("TresPerJob", ""), info
            assert int(info["NumCPUs"]) == threads[GPU_RULE], info
    assert rules_seen_by_slurm == remote_rules
    assert LOCAL_RULE in rule_headers(output, "localrule") and LOCAL_RULE not in remote_rules
    # The profile's thread count reached the job inside SLURM (suite2p logs what it runs with).
    suite2p_log = on_slurm / f"results/logs/imaging_suite2p_plane/{IMAGING_SESSION}_plane0.log"
    assert f"{threads['imaging_suite2p_plane']} threads)" in suite2p_log.read_text()
    assert (on_slurm / LOCAL_TARGET).is_file()
    assert not slurm_cluster.active_job_ids()

    # The same jobs, run locally with the same threads, give the same numbers.
    run_snakemake(
        local,
        *TARGETS,
        "--cores",
        str(slurm_cluster.cpus),
        "--max-threads",
        str(profile_settings["max-threads"]),
        "--set-threads",
        *same_threads,
        "--configfile",
        TEST_CONFIG,
        timeout=240,
        check=True,
    )
    for target in TARGETS:
        assert without_run_only_keys(read_json(on_slurm / target)) == without_run_only_keys(
            read_json(local / target)
        ), target
    activity = f"results/imaging/{IMAGING_SESSION}/activity.h5"
    with h5py.File(on_slurm / activity) as a, h5py.File(local / activity) as b:
        assert a["dff"].shape == b["dff"].shape
        np.testing.assert_array_equal(a["dff"][()], b["dff"][()])
