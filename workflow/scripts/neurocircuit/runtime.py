"""Run-time plumbing shared by every step: devices, threads, seeds, provenance, atomic writes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import random
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

PROVENANCE_PACKAGES = (
    "neurocircuit",
    "numpy",
    "scipy",
    "torch",
    "suite2p",
    "h5py",
    "tifffile",
    "snakemake",
)


def select_device(setting: str = "auto"):
    """Torch device for ``setting``: "auto" (cuda when available, else cpu), "cpu" or "cuda"."""
    import torch

    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device '{setting}' was requested but CUDA is not available here")
    return torch.device(setting)


def set_threads(n_threads: int, torch_threads: bool = True) -> None:
    """Make torch (and BLAS through the env) use exactly ``n_threads`` CPU threads.

    ``torch_threads`` False sets only the environment (light jobs that never import torch).
    """
    n_threads = max(1, int(n_threads))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n_threads)
    if torch_threads:
        import torch

        torch.set_num_threads(n_threads)


ALLOCATOR_KEEP_BYTES = 1 << 30
"""Freed memory glibc keeps for reuse instead of handing it back to the kernel (1 GiB)."""
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, <malloc.h>


def configure_cpu_allocator(keep_bytes: int = ALLOCATOR_KEEP_BYTES) -> bool:
    """Tell glibc's malloc to reuse freed large blocks instead of returning them to the kernel.

    A training step on the CPU allocates and frees the same few (T, B, N) buffers (megabytes
    each) every step. By default glibc serves blocks that large with fresh ``mmap`` pages, or
    trims the heap when they are freed, so every step page-faults and zero-fills them again:
    on the SHD-shaped benchmark step that is 10-40 % of the time, and most of its step-to-step
    jitter. Raising ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD`` to ``keep_bytes`` (what
    ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` do from the environment, and what
    PyTorch's CPU tuning guide gets from jemalloc or tcmalloc) keeps them in the process. The
    resident memory stays at the step's peak instead of falling back between steps; blocks
    above ``keep_bytes`` still come from ``mmap``. Process-wide; idempotent. The training rules
    (classification, fit, ablation) call it; imaging does not (suite2p's arrays are large and
    few, and a long-lived heap would only hold its peak longer).

    Returns:
        True when the setting was applied (Linux with glibc), False elsewhere (a no-op).
    """
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    keep = ctypes.c_int(min(int(keep_bytes), 2**31 - 1))
    return bool(libc.mallopt(_M_TRIM_THRESHOLD, keep)) and bool(
        libc.mallopt(_M_MMAP_THRESHOLD, keep)
    )


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so the same seed gives the same numbers."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)


def package_versions(names: tuple[str, ...] = PROVENANCE_PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (missing ones are left out), plus Python's."""
    versions = {"python": platform.python_version()}
    for name in names:
        if name == "neurocircuit":
            from neurocircuit import __version__

            versions[name] = __version__
            continue
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def config_hash(config: dict) -> str:
    """A short, stable hash of a (JSON-serialisable) config section, for provenance."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@contextlib.contextmanager
def atomic_path(final_path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final_path``; rename it into place only on success.

    A failed or killed writer leaves no file that looks finished.
    """
    final_path = Path(final_path)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final_path.name}.", suffix=".part", dir=final_path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp_path
        if tmp_path.is_file():
            os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, final_path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_folder(out_dir: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``out_dir`` that replaces it (and any older copy) only
    when the block succeeds: a failed writer leaves no folder that looks finished."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        yield tmp_dir
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp_dir, out_dir)
    finally:
        if tmp_dir.exists():
            shutil.rmtree(tmp_dir)


def write_json(data: dict, path: str | Path) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True, default=_json_default)
            fh.write("\n")


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def get_logger(name: str, log_file: str | Path | None = None, mode: str = "w") -> logging.Logger:
    """A logger that writes to stderr and, when given, to ``log_file`` (a rule's log), which
    ``mode`` "w" starts afresh and "a" appends to (another writer shares the file)."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
    logger.addHandler(stream)
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, mode=mode)
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    logger.propagate = False
    return logger


@contextlib.contextmanager
def rule_job(
    smk, *, torch: bool = True, allocator: bool = False, capture_stderr: bool = False
) -> Iterator[logging.Logger]:
    """The one setup of every rule script: threads, allocator, logging, and errors.

    ``smk`` is the ``snakemake`` object of a ``script:`` rule, or the job saved from one
    (:func:`script_job`); the former is saved beside the rule's log first
    (:func:`saved_job_path`), so the job can be rerun by hand. Sets ``smk.threads`` CPU threads
    (torch's too when ``torch``), glibc's allocator setting for training jobs (``allocator``,
    see :func:`configure_cpu_allocator`), and yields a logger named after the rule that writes
    to the console and to the rule's log. ``capture_stderr`` sends everything else on stderr
    (progress bars) to the log only. Any exception ends the job with one line,
    ``<rule>: <message>``, written to the log and to the console alike, and no traceback.
    """
    name = getattr(smk, "rule", None) or "rule"
    log_file = smk.log[0] if len(smk.log) else None
    if log_file is not None and not isinstance(smk, SavedJob):
        save_job(smk, saved_job_path(log_file))
    set_threads(smk.threads, torch_threads=torch)
    if allocator:
        configure_cpu_allocator()
    shared = capture_stderr and log_file is not None
    if shared:  # two writers: both append (O_APPEND), so neither overwrites the other
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        Path(log_file).write_text("")
    logger = get_logger(name, log_file, mode="a" if shared else "w")
    try:
        if shared:
            with open(log_file, "a") as log, contextlib.redirect_stderr(log):
                yield logger
        else:
            yield logger
    except Exception as error:  # noqa: BLE001 - every error becomes the same one line
        message = error_line(error).removeprefix(f"{name}: ")
        logger.error("%s", message)  # the log line reads "... ERROR <rule>: <message>"
        raise SystemExit(f"{name}: {message}") from None


def error_line(error: BaseException) -> str:
    """One line for ``error``: its message (which names the file), or its type when empty."""
    message = " ".join(str(error).split())
    if not message:
        return type(error).__name__
    if isinstance(error, (OSError, ValueError, RuntimeError)):
        return message
    return f"{type(error).__name__}: {message}"


# ---------------------------------------------------------------- a job saved, rerun by hand
SAVED_JOB_SUFFIX = ".params.json"
_FILE_FIELDS = ("input", "output", "log")
_NAMED_FIELDS = ("params", "wildcards", "resources")


class NamedList(list):
    """A list whose entries may also be reached by name (``job.input.activity``,
    ``job.output.items()``), like Snakemake's ``Namedlist``, as a saved job rebuilds it."""

    def __init__(self, values=(), named: Mapping | None = None):
        super().__init__(values)
        self._named = dict(named or {})

    def __getattr__(self, name: str):
        try:
            return self.__dict__["_named"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key):
        return self._named[key] if isinstance(key, str) else super().__getitem__(key)

    def items(self):
        return self._named.items()

    def keys(self):
        return self._named.keys()

    def get(self, name: str, default=None):
        return self._named.get(name, default)


@dataclass
class SavedJob:
    """A rule's job as :func:`save_job` wrote it: what a rule script reads of Snakemake's
    ``snakemake`` object (files, params, wildcards, threads, resources, rule name)."""

    rule: str
    input: NamedList
    output: NamedList
    log: NamedList
    params: NamedList
    wildcards: NamedList
    resources: NamedList
    threads: int = 1


def saved_job_path(log_file: str | Path) -> Path:
    """Where a job's params are saved: beside its log, as ``<log>.params.json``."""
    return Path(f"{log_file}{SAVED_JOB_SUFFIX}")


def _plain(value):
    """``value`` as JSON holds it: Snakemake's path strings and named lists as str and list."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _named(entries) -> dict:
    """The named entries of a Snakemake ``Namedlist`` (none of a plain list)."""
    return dict(entries.items()) if hasattr(entries, "items") else {}


def job_record(smk) -> dict:
    """What :class:`SavedJob` holds of a ``snakemake`` object, as JSON-ready data (a field
    the object lacks is saved empty)."""
    record = {"rule": getattr(smk, "rule", None) or "rule", "threads": int(smk.threads)}
    for field in _FILE_FIELDS:
        files = getattr(smk, field, [])
        record[field] = {"files": _plain(list(files)), "named": _plain(_named(files))}
    for field in _NAMED_FIELDS:
        record[field] = _plain(_named(getattr(smk, field, {})))
    return record


def save_job(smk, path: str | Path) -> Path:
    """Write the job of ``smk`` (a ``snakemake`` object) to ``path`` as JSON, atomically."""
    write_json(job_record(smk), path)
    return Path(path)


def load_job(path: str | Path) -> SavedJob:
    """The job :func:`save_job` wrote to ``path``, with the same files, params and names."""
    with open(path) as fh:
        record = json.load(fh)
    fields = {
        field: NamedList(record[field]["files"], record[field]["named"]) for field in _FILE_FIELDS
    }
    for field in _NAMED_FIELDS:
        fields[field] = NamedList(record[field].values(), record[field])
    return SavedJob(rule=record["rule"], threads=int(record["threads"]), **fields)


def script_job(smk=None, argv: list[str] | None = None):
    """The job a rule script runs: ``smk`` (Snakemake's ``snakemake`` object) when Snakemake
    runs the script, else the saved job named on the command line, as in
    ``python workflow/scripts/<rule>.py results/logs/<rule>/<job>.log.params.json`` run from
    the folder Snakemake ran in (the job's paths are relative to it)."""
    if smk is not None:
        return smk
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) != 1:
        raise SystemExit(
            f"usage: python {sys.argv[0]} PARAMS.json (a job's params, saved beside its log "
            f"as <log>{SAVED_JOB_SUFFIX} when Snakemake ran it)"
        )
    return load_job(args[0])
