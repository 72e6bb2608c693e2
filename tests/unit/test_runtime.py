"""Run-time plumbing: the CPU allocator setting keeps freed training buffers in the process."""

import platform
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "workflow" / "scripts"

# Allocates and frees a 96 MB tensor (above glibc's largest dynamic mmap threshold, 32 MB), then
# allocates it again; prints how much resident memory the free handed back, in MB.
PROBE = """
import sys
sys.path.insert(0, {package!r})
import torch
from neurocircuit.runtime import configure_cpu_allocator

def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

applied = configure_cpu_allocator() if {keep} else None
x = torch.ones(24 * 1024 * 1024)
before = rss_mb()
del x
print(applied, before - rss_mb())
"""


def _probe(keep: bool) -> tuple[str, float]:
    code = PROBE.format(package=str(PACKAGE_DIR), keep=keep)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    applied, returned_mb = out.stdout.split()
    return applied, float(returned_mb)


@pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc only"
)
def test_configure_cpu_allocator_keeps_freed_blocks():
    applied, returned_default = _probe(keep=False)
    assert returned_default > 80  # glibc's default hands the 96 MB back at once
    applied, returned_kept = _probe(keep=True)
    assert applied == "True"
    assert returned_kept < 5  # kept for the next step's allocation instead


def test_configure_cpu_allocator_is_idempotent():
    from neurocircuit.runtime import configure_cpu_allocator

    first = configure_cpu_allocator()
    assert configure_cpu_allocator() == first


def fake_rule(tmp_path, name="demo_rule"):
    from types import SimpleNamespace

    return SimpleNamespace(rule=name, log=[str(tmp_path / "logs" / f"{name}.log")], threads=1)


def test_rule_job_ends_an_error_with_one_line_in_log_and_console(tmp_path, capsys):
    from neurocircuit.runtime import rule_job

    smk = fake_rule(tmp_path)
    with pytest.raises(SystemExit) as stop:
        with rule_job(smk, torch=False):
            raise ValueError("data/x.h5: no 'dff' dataset")
    assert str(stop.value) == "demo_rule: data/x.h5: no 'dff' dataset"
    last = open(smk.log[0]).read().splitlines()[-1]
    assert last.endswith(" ERROR demo_rule: data/x.h5: no 'dff' dataset")
    assert "Traceback" not in capsys.readouterr().err


def test_rule_job_capturing_stderr_keeps_both_writers_whole(tmp_path):
    """The logger and the redirected stderr (progress bars) share the log: neither may write
    over the other (a cut multi-byte character made the log unreadable)."""
    import sys

    from neurocircuit.runtime import rule_job

    smk = fake_rule(tmp_path, "train")
    with rule_job(smk, torch=False, capture_stderr=True) as logger:
        for step in range(20):
            logger.info("epoch %d", step)
            sys.stderr.write(f"progress ██████ {step}\r\n")
            sys.stderr.flush()
    text = open(smk.log[0], encoding="utf-8").read()
    for step in range(20):
        assert f"epoch {step}" in text and f"progress ██████ {step}" in text
