"""Threads and GPU tokens of the training rules, from whether this machine has a GPU.

On a GPU machine a training job (``fit_activity``, ``classification_train``) asks for its rule's
GPU threads (fit 2, classification 4: the CPU work that feeds the GPU) and one ``gpu`` token;
the default profile's ``resources: gpu=1`` then lets one job hold the GPU at a time. On a
machine without one, a training job asks for 1 thread and no token, so training jobs run side
by side up to ``--cores``: their time loops are single-threaded, and two 2-thread jobs on
2 cores slow each other many times over while queuing one behind the other leaves cores idle.

The GPU is seen by what the jobs will use: the config's ``device`` ("cpu": none, "cuda...":
one), else (``auto``) an empty ``CUDA_VISIBLE_DEVICES`` means none, and otherwise torch's
``cuda.is_available()`` decides (not imported where no GPU device file exists). Explicit
settings win as Snakemake applies them over a rule's own values: ``--set-threads rule=N`` and
``--set-resources rule:gpu=N`` (the SLURM profile sets both for the training rules).
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

CPU_TRAINING_THREADS = 1
"""Threads of one training job on a machine without a GPU."""

GPU_DEVICE_FILES = ("nvidia[0-9]*", "kfd", "dxg")
"""Device files under /dev of an NVIDIA GPU, an AMD one (ROCm) and WSL2's GPU bridge: without
any of them no CUDA device can be visible, and torch is not imported to ask."""


def gpu_visible(device: str = "auto", environ: dict | None = None) -> bool:
    """Whether the training jobs of this run will use a GPU: ``device`` as the config gives it
    ("auto", "cpu", "cuda", "cuda:N"); ``environ`` the environment (default: this process's)."""
    if device == "cpu":
        return False
    if device.startswith("cuda"):
        return True
    visible = (os.environ if environ is None else environ).get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return _cuda_available()


@functools.cache
def _cuda_available() -> bool:
    """torch.cuda.is_available(), asked once per Snakemake run and only where a GPU device file
    exists; without torch in Snakemake's own environment, whether ``nvidia-smi`` is installed."""
    if not any(any(Path("/dev").glob(pattern)) for pattern in GPU_DEVICE_FILES):
        return False
    try:
        import torch
    except ImportError:
        return shutil.which("nvidia-smi") is not None
    return bool(torch.cuda.is_available())


def training_threads(config: dict, wildcards, gpu_threads: int) -> int:
    """A training job's threads: ``gpu_threads`` with a GPU, :data:`CPU_TRAINING_THREADS`
    without one (``--set-threads`` replaces this)."""
    return int(gpu_threads) if gpu_visible(config["device"]) else CPU_TRAINING_THREADS


def training_gpus(config: dict, wildcards) -> int:
    """A training job's ``gpu`` tokens: 1 with a GPU, 0 without one, so the profile's
    ``resources: gpu=1`` does not queue CPU jobs one behind the other (``--set-resources
    rule:gpu=N`` replaces this)."""
    return 1 if gpu_visible(config["device"]) else 0
