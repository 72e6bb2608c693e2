"""Whether the training rules see a GPU (neurocircuit/workflow/resources.py): the config's
device first, then CUDA_VISIBLE_DEVICES, then torch."""

from types import SimpleNamespace

import pytest
from neurocircuit.workflow import resources

WILDCARDS = SimpleNamespace(dataset="tiny", model="rate_dale_bptt", seed="0")


@pytest.fixture
def cuda_available(monkeypatch):
    """torch's answer, replaced by a switch (the real one is cached per process)."""
    answer = {"value": True}
    monkeypatch.setattr(resources, "_cuda_available", lambda: answer["value"])
    return answer


@pytest.mark.parametrize(
    "device, environ, torch_says, visible",
    [
        ("cpu", {}, True, False),
        ("cuda", {"CUDA_VISIBLE_DEVICES": ""}, False, True),
        ("cuda:1", {}, False, True),
        ("auto", {"CUDA_VISIBLE_DEVICES": ""}, True, False),
        ("auto", {"CUDA_VISIBLE_DEVICES": "-1"}, True, False),
        ("auto", {"CUDA_VISIBLE_DEVICES": "0"}, True, True),
        ("auto", {}, True, True),
        ("auto", {}, False, False),
    ],
)
def test_gpu_visible(cuda_available, device, environ, torch_says, visible):
    cuda_available["value"] = torch_says
    assert resources.gpu_visible(device, environ) is visible


def test_training_jobs_take_one_thread_and_no_gpu_without_a_gpu(cuda_available, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    cuda_available["value"] = False
    config = {"device": "auto"}
    assert resources.training_threads(config, WILDCARDS, gpu_threads=4) == 1
    assert resources.training_gpus(config, WILDCARDS) == 0
    cuda_available["value"] = True
    assert resources.training_threads(config, WILDCARDS, gpu_threads=4) == 4
    assert resources.training_gpus(config, WILDCARDS) == 1


def test_this_machine_answers_like_torch(monkeypatch):
    import torch

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert resources.gpu_visible("auto") is torch.cuda.is_available()
