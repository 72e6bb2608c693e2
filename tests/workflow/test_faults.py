"""Runs that survive faults: killed downloads and jobs, reruns, thread settings.

Downloads are tested against a local HTTP server on 127.0.0.1 (tests/helpers/file_server.py)
that serves one file, honours ``Range`` requests (like the official mirrors) and can drop the
connection or stall on purpose.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import (
    ROOT,
    TEST_CONFIG,
    comparable_metrics,
    copy_workflow,
    read_json,
    run_snakemake,
    snakemake_command,
)
from helpers.file_server import closed_port_url, serving
from neurocircuit.download import ChecksumError, DataUnavailableError, download_file

SCRIPTS = ROOT / "workflow" / "scripts"


@pytest.fixture
def payload() -> bytes:
    return os.urandom(300_000)


@pytest.fixture
def file_server(payload):
    with serving({"/data/file.bin": payload}) as server:
        yield server


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def partial_of(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


# ---------------------------------------------------------------- classification downloads (D)
def test_dropped_download_resumes_with_range_and_verifies(tmp_path, file_server, payload):
    file_server.drop_after, file_server.drops = 100_000, 1
    dest = tmp_path / "resources" / "mnist" / "train-images-idx3-ubyte.gz"
    download_file([file_server.url], dest, md5=md5(payload), retries=3, backoff_s=0)
    assert dest.read_bytes() == payload
    assert file_server.ranges == [None, "bytes=100000-"], "the second request must resume"
    assert not partial_of(dest).exists()


def test_download_that_keeps_failing_leaves_no_complete_file_and_resumes_later(
    tmp_path, file_server, payload
):
    file_server.drop_after, file_server.drops = 50_000, 10**6  # every response is cut
    dest = tmp_path / "train-labels-idx1-ubyte.gz"
    with pytest.raises(DataUnavailableError, match=dest.name):
        download_file([file_server.url], dest, md5=md5(payload), retries=2, backoff_s=0)
    assert not dest.exists(), "an interrupted download must not appear under its final name"
    assert 0 < partial_of(dest).stat().st_size < len(payload)

    file_server.drops = 0  # the mirror recovers: the next run continues the partial file
    download_file([file_server.url], dest, md5=md5(payload), retries=1, backoff_s=0)
    assert dest.read_bytes() == payload
    assert file_server.ranges[-1] == f"bytes={partial_size_before(file_server)}-"


def partial_size_before(server) -> int:
    """Bytes the client already had when it sent its last request (from its Range header)."""
    return int(server.ranges[-1].removeprefix("bytes=").rstrip("-"))


def test_checksum_mismatch_names_the_file_and_keeps_nothing(tmp_path, file_server, payload):
    dest = tmp_path / "t10k-images-idx3-ubyte.gz"
    with pytest.raises(ChecksumError, match="t10k-images-idx3-ubyte.gz"):
        download_file([file_server.url], dest, md5="0" * 32, retries=1, backoff_s=0)
    assert not dest.exists() and not partial_of(dest).exists()


def test_corrupt_existing_file_is_downloaded_again(tmp_path, file_server, payload):
    dest = tmp_path / "t10k-labels-idx1-ubyte.gz"
    dest.write_bytes(payload[:1000])  # a truncated copy left by some earlier tool
    download_file([file_server.url], dest, md5=md5(payload), retries=1, backoff_s=0)
    assert dest.read_bytes() == payload


KILLABLE_DOWNLOAD = """
import sys
from neurocircuit.download import download_file
download_file(sys.argv[1], sys.argv[2], **{sys.argv[3]: sys.argv[4]}, retries=1, chunk_bytes=4096)
"""


def _start_download(*args: str) -> subprocess.Popen:
    """``download_file(url, dest, <algorithm>=<digest>)`` in a separate Python process."""
    env = {**os.environ, "PYTHONPATH": str(SCRIPTS)}
    return subprocess.Popen(
        [sys.executable, "-c", KILLABLE_DOWNLOAD, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _kill_when_partial_grows(process: subprocess.Popen, partial: Path, min_bytes: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if partial.exists() and partial.stat().st_size >= min_bytes:
            break
        if process.poll() is not None:
            pytest.fail(f"the download ended before it could be killed: {process.stderr.read()}")
        time.sleep(0.02)
    else:
        process.kill()
        pytest.fail("the download never started writing its partial file")
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def test_download_killed_with_sigkill_resumes_on_rerun(tmp_path, file_server, payload):
    file_server.chunk_delay_s = 0.01  # about 0.7 s for the whole file
    dest = tmp_path / "train-images-idx3-ubyte.gz"
    process = _start_download(file_server.url, str(dest), "md5", md5(payload))
    _kill_when_partial_grows(process, partial_of(dest), 20_000)
    assert process.returncode == -signal.SIGKILL
    assert not dest.exists()
    kept = partial_of(dest).stat().st_size
    assert 0 < kept < len(payload)

    file_server.chunk_delay_s = 0.0
    download_file([file_server.url], dest, md5=md5(payload), retries=1, backoff_s=0)
    assert dest.read_bytes() == payload
    assert file_server.ranges[-1] == f"bytes={kept}-"


# ---------------------------------------------------------------- zebrafish download (E)
ZEBRAFISH_FILE = "Stimulus_data_2022_02_23_fish3_1.npy"


def test_zebrafish_download_checksum_mismatch_names_the_file(tmp_path, file_server):
    dest = tmp_path / "zebrafish" / ZEBRAFISH_FILE
    with pytest.raises(ChecksumError, match=ZEBRAFISH_FILE):
        download_file(file_server.url, dest, sha256="0" * 64, retries=1)
    assert not dest.exists() and not partial_of(dest).exists()


def test_zebrafish_download_cut_off_resumes_and_never_passes_for_complete(
    tmp_path, file_server, payload
):
    file_server.drop_after, file_server.drops = 100_000, 2
    dest = tmp_path / ZEBRAFISH_FILE
    with pytest.raises(DataUnavailableError, match=ZEBRAFISH_FILE):
        download_file(file_server.url, dest, sha256=sha256(payload), retries=1)
    assert not dest.exists() and partial_of(dest).stat().st_size == 100_000
    download_file(file_server.url, dest, sha256=sha256(payload), retries=2, backoff_s=0)
    assert dest.read_bytes() == payload
    assert file_server.ranges == [None, "bytes=100000-", "bytes=200000-"]


def test_zebrafish_download_killed_with_sigkill_resumes_on_rerun(tmp_path):
    payload = os.urandom(2_600_000)  # the real file's size; it is read in 1 MiB blocks
    dest = tmp_path / ZEBRAFISH_FILE
    with serving({"/data/file.bin": payload}) as server:
        server.chunk_delay_s = 0.002  # about 1.3 s for the whole file
        process = _start_download(server.url, str(dest), "sha256", sha256(payload))
        _kill_when_partial_grows(process, partial_of(dest), 1 << 20)
        assert not dest.exists()
        kept = partial_of(dest).stat().st_size
        assert 0 < kept < len(payload)

        server.chunk_delay_s = 0.0
        download_file(server.url, dest, sha256=sha256(payload), retries=1)
        assert dest.read_bytes() == payload
        assert server.ranges[-1] == f"bytes={kept}-"


def test_zebrafish_rule_offline_says_where_to_put_the_file(workflow_dir, tmp_path):
    """The real download rule with its mirror unreachable: one line, in the rule's log and on
    the console, naming both folders the workflow reads the recording from."""
    data_dir = tmp_path / "my_data"
    override = workflow_dir / "offline.yaml"
    override.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(data_dir),
                "fit": {"datasets": ["zebrafish"], "zebrafish": {"url": closed_port_url()}},
            }
        )
    )
    target = f"resources/zebrafish/{ZEBRAFISH_FILE}"
    args = [target, "--cores", "1", "--configfile", TEST_CONFIG, str(override)]
    result = run_snakemake(workflow_dir, *args, timeout=120)
    assert result.returncode != 0
    where = (f"{workflow_dir / 'resources' / 'zebrafish'}/", f"{data_dir / 'zebrafish'}/")
    log_file = workflow_dir / "results/logs/fit_download_zebrafish/zebrafish.log"
    log_lines = [line for line in log_file.read_text().splitlines() if "ERROR" in line]
    assert len(log_lines) == 1, log_file.read_text()
    console = [line for line in result.stderr.splitlines() if "could not download" in line]
    assert console, result.stderr[-3000:]
    for line in (log_lines[0], console[-1]):
        assert f"fit_download_zebrafish: could not download {ZEBRAFISH_FILE}" in line, line
        assert all(folder in line for folder in where), line
    assert "Traceback" not in result.stderr
    assert not (workflow_dir / target).exists()
    assert not partial_of(workflow_dir / target).exists()


# ---------------------------------------------------------------- killed training jobs
# A digits classifier long enough to be killed between two epochs' checkpoints.
TRAINING_CONFIG = {
    "classification": {
        "datasets": ["digits"],
        "models": ["lif"],
        "seeds": [0],
        "dataset_settings": {"digits": {"epochs": 5}},
    }
}
TRAINING_RUN = "results/classification/digits/lif/seed0"
TRAINING_TARGET = f"{TRAINING_RUN}/metrics.json"
TRAINING_LOG = "results/logs/classification_train/digits/lif/seed0.log"
# metrics.json keys that describe how a run went (resumed or not), not what it computed
RUN_ONLY_KEYS = ("resumed_from_epoch",)


def training_args(workdir: Path, *extra: str) -> list[str]:
    override = workdir / "faults.yaml"
    override.write_text(yaml.safe_dump(TRAINING_CONFIG))
    return [TRAINING_TARGET, "--cores", "2", *extra, "--configfile", TEST_CONFIG, str(override)]


def start_snakemake(workdir: Path, args: list[str]) -> subprocess.Popen:
    """snakemake in the background, in its own process group; output to workdir/run.out."""
    out = open(workdir / "run.out", "ab")
    return subprocess.Popen(
        snakemake_command(*args),
        cwd=workdir,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def descendants(pid: int) -> dict[int, str]:
    """Process ids below ``pid`` and their command lines (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            with contextlib.suppress(OSError):
                found[child] = (
                    (Path("/proc") / str(child) / "cmdline")
                    .read_bytes()
                    .decode(errors="replace")
                    .replace("\0", " ")
                )
            todo.append(child)
    return found


def wait_for_checkpoint(workdir: Path, process: subprocess.Popen, after: float = 0.0) -> None:
    """Return once the training job has written a checkpoint (newer than ``after``)."""
    checkpoint = workdir / TRAINING_RUN / "checkpoint.pt"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if checkpoint.exists() and checkpoint.stat().st_mtime > after:
            assert not (workdir / TRAINING_TARGET).exists(), "training ended before the kill"
            return
        if process.poll() is not None:
            pytest.fail(f"snakemake ended early:\n{(workdir / 'run.out').read_text()[-3000:]}")
        time.sleep(0.02)
    pytest.fail("no checkpoint appeared within 180 s")


def training_metrics(workdir: Path) -> dict:
    metrics = comparable_metrics(read_json(workdir / TRAINING_TARGET))
    return {key: value for key, value in metrics.items() if key not in RUN_ONLY_KEYS}


def resumed_epoch(workdir: Path) -> int:
    """The epoch the last training run resumed after (from its log); fails if it did not."""
    log = (workdir / TRAINING_LOG).read_text()
    found = re.search(r"resuming from \S*checkpoint.pt after epoch (\d+)", log)
    assert found, f"the rerun did not resume from the checkpoint:\n{log[-2000:]}"
    return int(found.group(1))


@pytest.fixture(scope="module")
def uninterrupted_training(tmp_path_factory, workflow_snapshot) -> Path:
    """The digits run trained once, start to end, in its own workflow copy."""
    workdir = copy_workflow(
        tmp_path_factory.mktemp("uninterrupted") / "workflow_copy", workflow_snapshot
    )
    run_snakemake(workdir, *training_args(workdir), timeout=300, check=True)
    return workdir


@pytest.mark.slow
def test_training_job_killed_resumes_from_checkpoint(workflow_dir, uninterrupted_training):
    """SIGKILL on the training process (what a time limit or preemption does to a job)."""
    process = start_snakemake(workflow_dir, training_args(workflow_dir))
    wait_for_checkpoint(workflow_dir, process)
    jobs = [pid for pid, cmd in descendants(process.pid).items() if "classification_train" in cmd]
    assert jobs, descendants(process.pid)
    for pid in jobs:
        os.kill(pid, signal.SIGKILL)
    assert process.wait(timeout=120) != 0
    run_dir = workflow_dir / TRAINING_RUN
    assert not (run_dir / "metrics.json").exists() and not (run_dir / "history.csv").exists()
    assert (run_dir / "checkpoint.pt").exists()

    run_snakemake(workflow_dir, *training_args(workflow_dir), timeout=300, check=True)
    assert 1 <= resumed_epoch(workflow_dir) < 5
    assert training_metrics(workflow_dir) == training_metrics(uninterrupted_training)


@pytest.mark.slow
def test_snakemake_killed_mid_job_leaves_nothing_complete(workflow_dir, uninterrupted_training):
    """SIGKILL on Snakemake and its job together (a crashed login node or a closed terminal).

    Nothing of the killed job may pass for complete: its outputs are absent (written
    atomically, at the end), Snakemake's own incomplete-marker survives, and had any output
    existed, a run without --rerun-incomplete refuses it. The folder stays locked until
    ``snakemake --unlock``; the rerun then resumes the checkpoint.
    """
    process = start_snakemake(workflow_dir, training_args(workflow_dir))
    wait_for_checkpoint(workflow_dir, process)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    run_dir = workflow_dir / TRAINING_RUN
    assert not (run_dir / "metrics.json").exists() and not (run_dir / "history.csv").exists()
    assert any((workflow_dir / ".snakemake" / "incomplete").iterdir())

    # Were one output left behind (e.g. a writer that is not atomic), Snakemake would not trust
    # it: without --rerun-incomplete it stops and names the file; with it, the job reruns.
    (run_dir / "history.csv").write_text("epoch\n1\n")
    strict = run_snakemake(
        workflow_dir, *training_args(workflow_dir, "-n", "--workflow-profile", "none")
    )
    said = strict.stdout + strict.stderr
    assert strict.returncode != 0
    assert "--rerun-incomplete" in said and f"{TRAINING_RUN}/history.csv" in said, said[-2000:]
    (run_dir / "history.csv").unlink()

    # A killed Snakemake leaves its lock on the folder: --unlock, then rerun.
    run_snakemake(workflow_dir, *training_args(workflow_dir, "--unlock"), check=True)
    run_snakemake(
        workflow_dir, *training_args(workflow_dir, "--rerun-incomplete"), timeout=300, check=True
    )
    assert 1 <= resumed_epoch(workflow_dir) < 5
    assert training_metrics(workflow_dir) == training_metrics(uninterrupted_training)


# ---------------------------------------------------------------- determinism and threads
@pytest.mark.slow
def test_training_rerun_with_same_seed_reproduces_metrics(uninterrupted_training):
    first = training_metrics(uninterrupted_training)
    (uninterrupted_training / TRAINING_RUN / "checkpoint.pt").unlink()  # retrain, not resume
    run_snakemake(
        uninterrupted_training,
        *training_args(uninterrupted_training, "--forcerun", "classification_train"),
        timeout=300,
        check=True,
    )
    assert "resuming from" not in (uninterrupted_training / TRAINING_LOG).read_text()
    assert training_metrics(uninterrupted_training) == first


def test_torch_threads_follow_the_rules_threads(uninterrupted_training):
    """Without a GPU the rule asks for 1 thread (neurocircuit/workflow/resources.py; 4 with
    one), and torch uses 1, not its default of every core (2 here)."""
    metrics = read_json(uninterrupted_training / TRAINING_TARGET)
    assert "torch_threads" in metrics, (
        "metrics.json should record torch.get_num_threads() as torch_threads "
        "(see .notes/requests-from-G.md)"
    )
    assert metrics["torch_threads"] == 1


IMAGING_TARGET = "results/imaging/tiny/metrics.json"
SUITE2P_LOG = "results/logs/imaging_suite2p_plane/tiny_plane{plane}.log"


def imaging_results(workdir: Path) -> tuple[dict, list[bytes]]:
    """The session's metrics and the raw bytes of each plane's suite2p F.npy."""
    metrics = comparable_metrics(read_json(workdir / IMAGING_TARGET))
    traces = [
        path.read_bytes()
        for path in sorted((workdir / "results/imaging/tiny/suite2p").glob("plane*/F.npy"))
    ]
    return metrics, traces


@pytest.mark.slow
def test_imaging_rerun_reproduces_metrics_and_threads_reach_suite2p(workflow_dir):
    """suite2p (torch) per plane, rerun with the same seed and threads: identical results.

    The per-plane rule asks for 1 thread; --set-threads 2 must reach the job (its log says so).
    """
    args = [IMAGING_TARGET, "--cores", "2", "--set-threads", "imaging_suite2p_plane=2"]
    run_snakemake(workflow_dir, *args, "--configfile", TEST_CONFIG, timeout=300, check=True)
    first = imaging_results(workflow_dir)
    assert len(first[1]) == 2
    for plane in range(2):
        log = (workflow_dir / SUITE2P_LOG.format(plane=plane)).read_text()
        assert re.search(r"device cpu, 2 threads\)", log), log[-2000:]

    run_snakemake(
        workflow_dir,
        *args,
        "--forcerun",
        "imaging_suite2p_plane",
        "--configfile",
        TEST_CONFIG,
        timeout=300,
        check=True,
    )
    second = imaging_results(workflow_dir)
    assert second[0] == first[0]
    assert second[1] == first[1], "suite2p's F.npy differs between two identical runs"
