"""The training loop: learning beats chance, exact resume after a kill, a checkpoint of another
run trained over with a warning, early stopping, history, truncated BPTT, devices, bad input."""

import csv
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from neurocircuit.learning import (
    ClassificationTask,
    SequenceFitTask,
    TrainConfig,
    load_checkpoint,
    run_hash,
    train,
)
from neurocircuit.models import RateActivityNetwork, SpikingActivityNetwork, SpikingClassifier
from torch.utils.data import DataLoader, TensorDataset

SCRIPTS = Path(__file__).resolve().parents[2] / "workflow" / "scripts"


pytestmark = pytest.mark.usefixtures("one_thread")


def order_task(n, seed, channels=16, steps=40):
    """Two spatial patterns A and B shown one after the other, 15 steps apart; class 0 is
    A-then-B, class 1 B-then-A. Both classes have the same expected spike count on every
    channel, so only the temporal order tells them apart (chance: 50 %)."""
    generator = torch.Generator().manual_seed(seed)
    a = torch.zeros(channels)
    a[: channels // 2] = 1
    b = 1 - a
    labels = torch.randint(0, 2, (n,), generator=generator)
    first = torch.where(labels[:, None] == 0, a, b)
    second = torch.where(labels[:, None] == 0, b, a)
    x = torch.zeros(steps, n, channels)
    x[2:10] = first * (torch.rand(8, n, channels, generator=generator) < 0.4)
    x[25:33] = second * (torch.rand(8, n, channels, generator=generator) < 0.4)
    return x, labels


def as_batches(x, y, size):
    return [(x[:, i : i + size], y[i : i + size]) for i in range(0, x.shape[1], size)]


@pytest.mark.parametrize(
    ("method", "neuron", "feedback"),
    [("bptt", "lif_syn", "symmetric"), ("eprop", "lif_syn", "symmetric"),
     ("eprop", "alif", "random"), ("tbptt", "lif_syn", "symmetric")],
)  # fmt: skip
def test_learns_temporal_order_far_above_chance(method, neuron, feedback):
    x_train, y_train = order_task(192, seed=0)
    x_val, y_val = order_task(200, seed=1)
    model = SpikingClassifier(16, 32, 2, neuron=neuron, input_scale=3.0, recurrent_scale=1.0)
    cfg = TrainConfig(epochs=4, lr=1e-2, method=method, eprop_feedback=feedback,
                      tbptt_window=20, progress=False)  # fmt: skip
    result = train(model, ClassificationTask(), as_batches(x_train, y_train, 32),
                   [(x_val, y_val)], cfg)  # fmt: skip
    assert (x_train[:, y_train == 0].mean() - x_train[:, y_train == 1].mean()).abs() < 0.01
    assert result.best_score >= 0.9, [row["val_score"] for row in result.history]
    final = ClassificationTask().evaluate(model, [(x_val, y_val)])
    assert final["accuracy"] == pytest.approx(result.best_score)
    assert set(final) == {"score", "accuracy", "loss"}


def teacher_recording(steps=60, n=8):
    teacher = RateActivityNetwork(n, weight_scale=4.0, tau=3.0, seed=9)
    with torch.no_grad():
        x0 = torch.rand(1, n, generator=torch.Generator().manual_seed(0))
        return teacher(x0, steps)[:, 0]


@pytest.mark.parametrize(
    ("cls", "method"),
    [(RateActivityNetwork, "bptt"), (RateActivityNetwork, "eprop"),
     (RateActivityNetwork, "tbptt"), (SpikingActivityNetwork, "eprop")],
)  # fmt: skip
def test_fitting_a_recording_improves_pvar(cls, method):
    target = teacher_recording()
    model = cls(8, dale=True, seed=0)
    cfg = TrainConfig(epochs=30, lr=0.05, method=method, tbptt_window=10, progress=False)
    result = train(model, SequenceFitTask(), target, None, cfg)
    first = result.history[0]["val_score"]
    assert result.best_score >= 0.9 and result.best_score > first + 0.2, (first, result.best_score)
    scores = SequenceFitTask().evaluate(model, target)
    assert scores["pvar"] == pytest.approx(result.best_score)
    assert {"score", "pvar", "loss", "pvar_per_neuron_median"} <= set(scores)


def shuffled_loader(seed=0):
    x, y = order_task(96, seed=seed)
    dataset = TensorDataset(x.transpose(0, 1), y)

    def collate(items):
        xs, ys = zip(*items, strict=True)
        return torch.stack(xs, dim=1), torch.stack(ys)

    return DataLoader(dataset, batch_size=32, shuffle=True, collate_fn=collate)


def classifier():
    return SpikingClassifier(16, 24, 2, input_scale=3.0, recurrent_scale=1.0, seed=5)


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_identical_weights(tmp_path):
    cfg = TrainConfig(epochs=4, lr=5e-3, lr_schedule="cosine", progress=False, seed=7,
                      weight_decay=0.01, restore_best=False)  # fmt: skip
    task, val = ClassificationTask(), [order_task(64, seed=3)]
    reference = classifier()
    train(reference, task, shuffled_loader(), val, cfg)

    def stop_after_two(row):
        if row["epoch"] == 2:
            raise Interrupt

    checkpoint = tmp_path / "run.pt"
    history = tmp_path / "history.csv"
    interrupted = classifier()
    with pytest.raises(Interrupt):
        train(interrupted, task, shuffled_loader(), val, cfg, checkpoint_path=checkpoint,
              history_path=history, on_epoch_end=stop_after_two)  # fmt: skip
    torch.manual_seed(12345)  # the global RNG is disturbed before resuming
    resumed_model = classifier()
    result = train(resumed_model, task, shuffled_loader(), val, cfg, checkpoint_path=checkpoint,
                   history_path=history)  # fmt: skip
    assert result.resumed_from == 2 and result.epochs_run == 4
    for a, b in zip(
        reference.state_dict().values(), resumed_model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    with open(history) as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert {"train_loss", "train_score", "val_score", "val_accuracy", "lr"} <= set(rows[0])
    payload = load_checkpoint(checkpoint)
    assert (
        payload["epoch"] == 4 and payload["config"]["seed"] == 7 and "torch" in payload["versions"]
    )


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time, torch
    torch.set_num_threads(1)
    from neurocircuit.learning import SequenceFitTask, TrainConfig, train
    from neurocircuit.models import RateActivityNetwork
    target = torch.load(sys.argv[1])
    cfg = TrainConfig(epochs=12, lr=0.05, method="eprop", progress=False, seed=3)
    model = RateActivityNetwork(8, dale=True, seed=0)
    train(model, SequenceFitTask(), target, None, cfg, checkpoint_path=sys.argv[2],
          on_epoch_end=lambda row: time.sleep(0.3))
    """
)


def test_killed_run_resumes_to_identical_weights(tmp_path):
    target = teacher_recording()
    torch.save(target, tmp_path / "target.pt")
    script = tmp_path / "fit.py"
    script.write_text(KILL_SCRIPT)
    checkpoint = tmp_path / "fit.ckpt"
    env = dict(os.environ, PYTHONPATH=str(SCRIPTS))
    process = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "target.pt"), str(checkpoint)], env=env
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if checkpoint.exists() and load_checkpoint(checkpoint)["epoch"] >= 3:
                break
            if process.poll() is not None:
                pytest.fail(f"training process ended early with code {process.returncode}")
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    killed_at = load_checkpoint(checkpoint)["epoch"]
    assert 3 <= killed_at < 12
    cfg = TrainConfig(epochs=12, lr=0.05, method="eprop", progress=False, seed=3)
    resumed = RateActivityNetwork(8, dale=True, seed=0)
    result = train(resumed, SequenceFitTask(), target, None, cfg, checkpoint_path=checkpoint)
    assert result.resumed_from == killed_at
    reference = RateActivityNetwork(8, dale=True, seed=0)
    train(reference, SequenceFitTask(), target, None, cfg)
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # a finished run started again does not train further
    again = RateActivityNetwork(8, dale=True, seed=0)
    rerun = train(again, SequenceFitTask(), target, None, cfg, checkpoint_path=checkpoint)
    assert rerun.resumed_from == 12 and rerun.epochs_run == 12
    assert all(
        torch.equal(a, b) for a, b in zip(again.parameters(), resumed.parameters(), strict=True)
    )


def test_early_stopping_target_and_restore_best(tmp_path):
    target = teacher_recording()
    task = SequenceFitTask()
    stalled = train(RateActivityNetwork(8), task, target, None,
                    TrainConfig(epochs=50, lr=1e-9, patience=2, progress=False))  # fmt: skip
    assert stalled.stopped_early and stalled.stop_reason == "patience"
    assert stalled.epochs_run < 50
    reached = train(RateActivityNetwork(8), task, target, None,
                    TrainConfig(epochs=50, lr=0.05, target_score=0.8, progress=False))  # fmt: skip
    assert reached.stop_reason == "target_score" and reached.history[-1]["val_score"] >= 0.8
    model = RateActivityNetwork(8)
    noisy = train(model, task, target, None, TrainConfig(epochs=15, lr=0.5, progress=False))
    scores = [row["val_score"] for row in noisy.history]
    assert noisy.best_score == max(scores) and noisy.best_epoch == 1 + int(np.argmax(scores))
    assert task.evaluate(model, target)["score"] == pytest.approx(noisy.best_score, abs=1e-12)


def spike_rate(model, x) -> float:
    """Fraction of the classifier's neuron-steps that spike on ``x``."""
    with torch.no_grad():
        return float(model(x)[1].mean())


def test_tbptt_with_a_window_covering_the_sequence_equals_bptt():
    x, y = order_task(16, seed=4)
    grads = []
    for method in ("bptt", "tbptt"):
        model = SpikingClassifier(16, 12, 2, input_scale=3.0, backend="reference").double()
        task = ClassificationTask()
        batch = (x.double(), y)
        assert 0.02 < spike_rate(model, batch[0]) < 0.6  # gradients flow through spikes
        if method == "bptt":
            task.bptt_loss(model, batch)[0].backward()
        else:
            task.tbptt_backward(model, batch, window=x.shape[0])
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)
    target = teacher_recording(steps=20).double()
    fit_grads = []
    for window in (None, 25, 5):
        model = RateActivityNetwork(8).double()
        if window is None:
            SequenceFitTask().bptt_loss(model, target)[0].backward()
        else:
            SequenceFitTask().tbptt_backward(model, target, window)
        fit_grads.append(model.weight.grad.clone())
    torch.testing.assert_close(fit_grads[1], fit_grads[0], rtol=1e-12, atol=1e-15)
    assert not torch.allclose(fit_grads[2], fit_grads[0])


def test_device_selection():
    target = teacher_recording(steps=10)
    cfg = TrainConfig(epochs=1, device="cpu", progress=False)
    assert train(RateActivityNetwork(8), SequenceFitTask(), target, None, cfg).device == "cpu"
    auto = train(RateActivityNetwork(8), SequenceFitTask(), target, None,
                 TrainConfig(epochs=1, device="auto", progress=False))  # fmt: skip
    assert auto.device == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            train(RateActivityNetwork(8), SequenceFitTask(), target, None,
                  TrainConfig(epochs=1, device="cuda", progress=False))  # fmt: skip
    with pytest.raises(ValueError, match="device"):
        TrainConfig(device="tpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_and_cpu_give_the_same_loss_and_gradients():
    """float64, so no spike sits within rounding of the threshold: the same spikes on both
    devices (a fifth to a half of neuron-steps), the loss and every gradient to 1e-9."""
    x, y = order_task(32, seed=5)
    results = []
    for device in ("cpu", "cuda"):
        model = SpikingClassifier(16, 24, 2, input_scale=3.0).double().to(device)
        batch = (x.double().to(device), y.to(device))
        _, spikes = model(batch[0])
        loss, _ = ClassificationTask().bptt_loss(model, batch)
        loss.backward()
        grads = [p.grad.cpu() for p in model.parameters()]
        results.append((loss.item(), spikes.detach().cpu(), grads))
    (loss_cpu, spikes_cpu, grads_cpu), (loss_cuda, spikes_cuda, grads_cuda) = results
    assert 0.02 < float(spikes_cpu.mean()) < 0.5
    assert torch.equal(spikes_cpu, spikes_cuda)
    assert loss_cuda == pytest.approx(loss_cpu, rel=1e-10)
    for a, b in zip(grads_cpu, grads_cuda, strict=True):
        assert torch.count_nonzero(a) > 0
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-12)


def test_bad_config_errors():
    with pytest.raises(ValueError, match="method must be one of"):
        TrainConfig(method="rtrl")
    with pytest.raises(ValueError, match="unknown TrainConfig keys"):
        TrainConfig.from_dict({"epochs": 2, "learning_rate": 0.1})
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        TrainConfig(epochs=0)


def fit_run(cfg, checkpoint=None, fingerprint=None, logger=None):
    """A fresh rate network trained on the teacher's recording; (model, result)."""
    model = RateActivityNetwork(8, seed=0)
    result = train(model, SequenceFitTask(), teacher_recording(steps=12), None, cfg,
                   checkpoint_path=checkpoint, fingerprint=fingerprint, logger=logger)  # fmt: skip
    return model, result


def same_weights(a, b):
    pairs = zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    return all(torch.equal(x, y) for x, y in pairs)


def warnings_of(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


BASE = dict(epochs=2, lr=0.05, progress=False, seed=1)


@pytest.mark.parametrize(
    ("changed_cfg", "changed_fingerprint", "named"),
    [({"lr": 0.02}, {}, "lr: 0.05 -> 0.02"), ({"seed": 2}, {}, "seed: 1 -> 2"),
     ({}, {"dataset": "b"}, "dataset: 'a' -> 'b'"),
     ({}, {"settings": {"n_hidden": 16}}, "settings.n_hidden: 32 -> 16")],
)  # fmt: skip
def test_checkpoint_of_changed_settings_restarts_from_scratch_with_a_warning(
    tmp_path, caplog, changed_cfg, changed_fingerprint, named
):
    checkpoint = tmp_path / "run.pt"
    fingerprint = {"dataset": "a", "settings": {"n_hidden": 32}}
    fit_run(TrainConfig(**BASE), checkpoint, fingerprint)
    cfg = TrainConfig(**{**BASE, "epochs": 3, **changed_cfg})
    fingerprint = {**fingerprint, **changed_fingerprint}
    with caplog.at_level(logging.WARNING):
        model, result = fit_run(cfg, checkpoint, fingerprint)
    assert result.resumed_from is None and result.epochs_run == 3
    (warning,) = warnings_of(caplog)
    assert str(checkpoint) in warning and named in warning and "from scratch" in warning
    fresh, _ = fit_run(cfg)
    assert same_weights(model, fresh)
    assert load_checkpoint(checkpoint)["run_hash"] == run_hash(cfg, fingerprint)  # overwritten


def test_changed_epochs_progress_and_checkpoint_interval_resume(tmp_path, caplog):
    checkpoint = tmp_path / "run.pt"
    fingerprint = {"dataset": "a"}
    fit_run(TrainConfig(**BASE), checkpoint, fingerprint)
    more = TrainConfig(**{**BASE, "epochs": 4, "checkpoint_every": 2, "device": "cpu"})
    with caplog.at_level(logging.WARNING):
        model, result = fit_run(more, checkpoint, fingerprint)
    assert result.resumed_from == 2 and result.epochs_run == 4
    assert warnings_of(caplog) == []
    straight, _ = fit_run(TrainConfig(**{**BASE, "epochs": 4}))
    assert same_weights(model, straight)


def format_one_checkpoint(path):
    """A checkpoint of the previous format (no run hash): foreign to this version."""
    torch.save({"format": "neurocircuit-checkpoint-1", "epoch": 1}, path)


@pytest.mark.parametrize(
    ("write", "reason"),
    [(lambda path: path.write_bytes(b"not a checkpoint"), "cannot be read"),
     (lambda path: torch.save({"weights": torch.zeros(3)}, path), "not a neurocircuit"),
     (format_one_checkpoint, "format 'neurocircuit-checkpoint-1'")],
)  # fmt: skip
def test_unreadable_or_foreign_checkpoint_is_trained_over_with_a_warning(
    tmp_path, caplog, write, reason
):
    checkpoint = tmp_path / "stale.pt"
    write(checkpoint)
    cfg = TrainConfig(**BASE)
    with caplog.at_level(logging.WARNING):
        model, result = fit_run(cfg, checkpoint)
    (warning,) = warnings_of(caplog)
    assert str(checkpoint) in warning and reason in warning and "from scratch" in warning
    assert result.resumed_from is None
    assert same_weights(model, fit_run(cfg)[0])
    assert load_checkpoint(checkpoint)["epoch"] == 2


def test_bad_data_gives_clear_errors():
    model = SpikingClassifier(16, 8, 2)
    task = ClassificationTask()
    cfg = TrainConfig(epochs=1, progress=False)
    x, y = order_task(8, seed=0)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\]"):
        train(model, task, [(x, y + 5)], None, cfg)
    with pytest.raises(ValueError, match=r"\(T, B, C\)"):
        train(model, task, [(x[0], y)], None, cfg)
    with pytest.raises(ValueError, match="labels y must have shape"):
        train(model, task, [(x, y[:3])], None, cfg)
    with pytest.raises(ValueError, match="yielded no batches"):
        train(model, task, [], None, cfg)
    bad = teacher_recording(steps=10).clone()
    bad[3, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        train(RateActivityNetwork(8), SequenceFitTask(), bad, None, cfg)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train(RateActivityNetwork(8), SequenceFitTask(), bad.nan_to_num(5.0), None, cfg)
    with pytest.raises(ValueError, match="SequenceFitTask needs"):
        train(model, SequenceFitTask(), teacher_recording(steps=10), None, cfg)
