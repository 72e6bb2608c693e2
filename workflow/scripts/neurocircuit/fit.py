"""Fitting recorded activity: one recurrent unit per recorded neuron, rolled out on its own output.

The protocol of NeuroTorch (Gince et al. 2024), fixed here as one documented preset:

1. **Load** an activity file: ``results/imaging/{session}/activity.h5`` (``dff``, neurons × time,
   and ``time_s``) or a neurons × time ``.npy`` traces file (the zebrafish recording, raw
   fluorescence, about 0.9 s per volume). Every neuron is used exactly once (the reference code
   sampled neurons with replacement; we do not).
2. **Min-max normalisation** to [0, 1], either ``global`` (one minimum and maximum for the whole
   recording, the NeuroTorch paper's numbers) or ``per_neuron`` (each neuron its own range, the
   reference code's default). The statistics come from the training frames only.
3. **Gaussian smoothing** along time, σ in frames, applied to each split (training frames,
   held-out frames) separately so nothing leaks across the split (smoothing the whole series
   first leaks about 3σ frames). Normalising before smoothing is the reference code's order.
4. **Rollout**: the network starts from the first frame and is fed back its own output for all
   remaining frames (never the data: one-step-ahead scores are meaningless on smoothed data).
5. **pVar stopping**: training stops when the rollout's pVar reaches ``stop_pvar``.

Arrays are time-major, (T, N), inside this module; files store neurons × time.
"""

from __future__ import annotations

import hashlib
import os
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from neurocircuit.runtime import atomic_path

NORMALISATIONS = ("global", "per_neuron")


# ---------------------------------------------------------------- loading
@dataclass(frozen=True)
class ActivityRecording:
    """Recorded activity, time-major: ``traces`` (T frames, N neurons), ``time_s`` (T,) in s."""

    traces: np.ndarray
    time_s: np.ndarray
    frame_period_s: float
    source: str
    interpolated_values: int = 0

    @property
    def n_frames(self) -> int:
        return int(self.traces.shape[0])

    @property
    def n_neurons(self) -> int:
        return int(self.traces.shape[1])


def load_activity(
    path: str | Path,
    frame_period_s: float | None = None,
    max_neurons: int | None = None,
    max_frames: int | None = None,
) -> ActivityRecording:
    """Read neurons × time activity from ``.h5`` (dataset ``dff``, optional ``time_s``) or ``.npy``.

    ``frame_period_s`` (s per frame) is required for ``.npy`` files and overrides nothing in an
    ``.h5`` file that has ``time_s``. ``max_neurons`` keeps the first neurons, ``max_frames`` the
    first frames (reduced presets). Isolated non-finite values (masked frames) are filled by
    linear interpolation in time and counted; a neuron with no finite value, an empty file or an
    array that is not 2-D is an error naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: activity file not found")
    time_s = None
    if path.suffix in (".h5", ".hdf5"):
        import h5py

        try:
            with h5py.File(path, "r") as h5:
                if "dff" not in h5:
                    raise ValueError(
                        f"{path}: no 'dff' dataset (neurons × time); found {', '.join(h5) or '-'}"
                    )
                data = np.asarray(h5["dff"], dtype=np.float64)
                if "time_s" in h5:
                    time_s = np.asarray(h5["time_s"], dtype=np.float64).reshape(-1)
        except OSError as error:
            raise ValueError(f"{path}: not a readable HDF5 file ({error})") from None
    elif path.suffix == ".npy":
        try:
            data = np.asarray(np.load(path, allow_pickle=False), dtype=np.float64)
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: not a readable .npy array ({error})") from None
    else:
        raise ValueError(f"{path}: unknown activity format '{path.suffix}' (use .h5 or .npy)")

    if data.ndim != 2:
        raise ValueError(f"{path}: activity must be neurons × time (2-D), got shape {data.shape}")
    if data.shape[0] == 0:
        raise ValueError(f"{path}: the activity file holds zero neurons")
    if data.shape[1] < 4:
        raise ValueError(f"{path}: only {data.shape[1]} frames; at least 4 are needed to fit")
    if max_neurons is not None:
        data = data[:max_neurons]
    if max_frames is not None:
        data = data[:, :max_frames]
        time_s = None if time_s is None else time_s[:max_frames]

    finite = np.isfinite(data)
    dead = np.flatnonzero(~finite.any(axis=1))
    if dead.size:
        shown = ", ".join(str(i) for i in dead[:10]) + (" ..." if dead.size > 10 else "")
        raise ValueError(
            f"{path}: {dead.size} neuron row(s) have no finite value (NaN rows: {shown}); "
            "remove them upstream"
        )
    n_bad = int((~finite).sum())
    if n_bad:
        frames = np.arange(data.shape[1])
        for row in np.flatnonzero(~finite.all(axis=1)):
            good = finite[row]
            data[row, ~good] = np.interp(frames[~good], frames[good], data[row, good])

    if time_s is not None and time_s.shape == (data.shape[1],) and data.shape[1] > 1:
        period = float(np.median(np.diff(time_s)))
    else:
        if frame_period_s is None:
            raise ValueError(f"{path}: no time_s in the file; give the frame period (s)")
        period = float(frame_period_s)
        time_s = np.arange(data.shape[1]) * period
    return ActivityRecording(
        traces=np.ascontiguousarray(data.T),
        time_s=time_s,
        frame_period_s=period,
        source=str(path),
        interpolated_values=n_bad,
    )


# ---------------------------------------------------------------- preprocessing
@dataclass(frozen=True)
class Preprocessing:
    """The paper's preset: min-max ``normalisation`` ("global" or "per_neuron"), then Gaussian
    smoothing with σ = ``smoothing_sigma_frames`` (frames; 0 = none), per split."""

    normalisation: str = "global"
    smoothing_sigma_frames: float = 10.0

    def __post_init__(self):
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(
                f"normalisation must be one of {', '.join(NORMALISATIONS)}, "
                f"got '{self.normalisation}'"
            )
        if self.smoothing_sigma_frames < 0:
            raise ValueError(
                f"smoothing_sigma_frames must be >= 0, got {self.smoothing_sigma_frames}"
            )


def minmax_range(traces, normalisation: str) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of (T, N) ``traces``, broadcastable to (N,): one pair or one per neuron."""
    t = np.asarray(traces, dtype=np.float64)
    if normalisation == "global":
        return np.full(t.shape[1], t.min()), np.full(t.shape[1], t.max())
    if normalisation == "per_neuron":
        return t.min(axis=0), t.max(axis=0)
    raise ValueError(
        f"normalisation must be one of {', '.join(NORMALISATIONS)}, got '{normalisation}'"
    )


def apply_minmax(traces, low, high) -> np.ndarray:
    """(traces − low) / (high − low); a flat neuron (high == low) becomes 0."""
    t = np.asarray(traces, dtype=np.float64)
    span = np.asarray(high, dtype=np.float64) - np.asarray(low, dtype=np.float64)
    safe = np.where(span > 0, span, 1.0)
    return np.where(span > 0, (t - low) / safe, 0.0)


def smooth_in_time(traces, sigma_frames: float) -> np.ndarray:
    """Gaussian smoothing along time (axis 0), σ in frames, edges held at the nearest frame."""
    from scipy.ndimage import gaussian_filter1d

    t = np.asarray(traces, dtype=np.float64)
    if sigma_frames <= 0:
        return t.copy()
    return gaussian_filter1d(t, sigma=float(sigma_frames), axis=0, mode="nearest")


def preprocess(traces, preprocessing: Preprocessing) -> np.ndarray:
    """Normalise then smooth a whole (T, N) recording (the in-sample fit)."""
    low, high = minmax_range(traces, preprocessing.normalisation)
    return smooth_in_time(apply_minmax(traces, low, high), preprocessing.smoothing_sigma_frames)


def preprocess_split(traces, preprocessing: Preprocessing, n_train: int):
    """Training frames [0, n_train) and held-out frames [n_train, T), each preprocessed alone.

    Normalisation statistics come from the training frames (the held-out part may leave [0, 1]);
    smoothing runs on each part separately, so no held-out frame influences a training frame.
    """
    t = np.asarray(traces, dtype=np.float64)
    train, test = t[:n_train], t[n_train:]
    low, high = minmax_range(train, preprocessing.normalisation)
    sigma = preprocessing.smoothing_sigma_frames
    return (
        smooth_in_time(apply_minmax(train, low, high), sigma),
        smooth_in_time(apply_minmax(test, low, high), sigma),
    )


def describe_preprocessing(preprocessing: Preprocessing) -> dict:
    """The preset as recorded in metrics.json, with the order of operations spelt out."""
    return {
        **asdict(preprocessing),
        "order": "min-max normalisation (training-frame statistics), then Gaussian smoothing "
        "along time applied to each split separately",
    }


# ---------------------------------------------------------------- download
def sha256_of(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def download_verified(
    url: str, destination: str | Path, sha256: str, retries: int = 3, timeout_s: float = 60.0
) -> Path:
    """Download ``url`` to ``destination`` and check its sha256 before it appears there.

    The bytes go to ``<destination>.part`` first, which a rerun resumes (HTTP Range) when the
    server allows it; the final name appears only once the checksum matches. A mismatch deletes
    the partial file and raises ValueError naming the file; running out of retries raises
    OSError saying where to put the file by hand.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    last_error: Exception | None = None
    for attempt in range(1, retries + 1):
        try:
            offset = partial.stat().st_size if partial.exists() else 0
            request = urllib.request.Request(url)
            if offset:
                request.add_header("Range", f"bytes={offset}-")
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                resumed = offset and response.status == 206
                with open(partial, "ab" if resumed else "wb") as fh:
                    while chunk := response.read(1 << 20):
                        fh.write(chunk)
            break
        except OSError as error:  # URLError and timeouts are OSErrors
            last_error = error
            if attempt < retries:
                time.sleep(min(2**attempt, 10))
    else:
        raise OSError(
            f"{destination}: download from {url} failed after {retries} tries ({last_error}); "
            f"put the file there by hand or set data_dir"
        )
    actual = sha256_of(partial)
    if actual != sha256:
        partial.unlink()
        raise ValueError(f"{destination}: sha256 {actual} does not match the expected {sha256}")
    os.replace(partial, destination)
    return destination


# ---------------------------------------------------------------- models
MODEL_NAME_PATTERN = r"^(spiking|rate)_(dale|dalesign|nodale)_(bptt|tbptt|eprop)$"
DALE_VARIANTS = {
    "dale": (True, "fixed"),
    "dalesign": (True, "learnable_sign"),
    "nodale": (False, "fixed"),
}


@dataclass(frozen=True)
class ModelSpec:
    """What a model name means: ``{dynamics}_{dale}_{method}``.

    dynamics: "spiking" (LIF with synaptic current, low-pass filtered, sigmoid readout) or
    "rate" (Wilson–Cowan); dale: "dale" (fixed identities), "dalesign" (NeuroTorch's learnable
    sign) or "nodale"; method: "bptt", "tbptt" or "eprop".
    """

    name: str
    dynamics: str
    dale: bool
    dale_mode: str
    method: str


def parse_model_name(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of a model name such as ``spiking_dale_eprop``."""
    import re

    match = re.match(MODEL_NAME_PATTERN, name)
    if match is None:
        raise ValueError(
            f"model name '{name}' is not {{spiking|rate}}_{{dale|dalesign|nodale}}_"
            "{bptt|tbptt|eprop}"
        )
    dynamics, dale_key, method = match.groups()
    dale, dale_mode = DALE_VARIANTS[dale_key]
    return ModelSpec(name, dynamics, dale, dale_mode, method)


def build_network(spec: ModelSpec, n_units: int, network_options: dict, seed: int):
    """A ``RateActivityNetwork`` or ``SpikingActivityNetwork`` of ``n_units`` units.

    ``network_options``: ``shared`` keyword arguments for both (exc_fraction, ei_balance, ...)
    and ``rate`` / ``spiking`` ones for each class (see neurocircuit.models.activity); other
    keys (``init_from_data``) are not constructor arguments.
    """
    from neurocircuit.models.activity import RateActivityNetwork, SpikingActivityNetwork

    network_class = SpikingActivityNetwork if spec.dynamics == "spiking" else RateActivityNetwork
    options = {**network_options.get("shared", {}), **network_options.get(spec.dynamics, {})}
    return network_class(
        n_units, dale=spec.dale, dale_mode=spec.dale_mode, seed=int(seed), **options
    )


FITTED_MODEL_FORMAT = "neurocircuit-fitted-activity-model-1"


def _network_class_name(model) -> str:
    """The library class of ``model`` (parametrize renames the runtime class)."""
    from neurocircuit.models.activity import RateActivityNetwork, SpikingActivityNetwork

    for network_class in (RateActivityNetwork, SpikingActivityNetwork):
        if isinstance(model, network_class):
            return network_class.__name__
    raise ValueError(f"not an activity network: {type(model).__name__}")


def save_fitted_model(model, path: str | Path, metadata: dict) -> None:
    """Weights and constructor arguments of a fitted network (plus ``metadata``), atomically."""
    import torch

    payload = {
        "format": FITTED_MODEL_FORMAT,
        "model_class": _network_class_name(model),
        "model_kwargs": dict(model.init_kwargs),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": metadata,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_fitted_model(path: str | Path):
    """The network saved by :func:`save_fitted_model` (on the CPU) and its metadata."""
    import torch

    from neurocircuit.models import activity

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: fitted model not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets one clear message
        raise ValueError(f"{path}: not a readable model file ({error})") from None
    if not isinstance(payload, dict) or payload.get("format") != FITTED_MODEL_FORMAT:
        raise ValueError(f"{path}: not a fitted activity model written by neurocircuit.fit")
    network_class = getattr(activity, payload["model_class"])
    kwargs = dict(payload["model_kwargs"])
    model = network_class(kwargs.pop("n_units"), **kwargs)
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, payload["metadata"]


def rollout(model, initial_frame: np.ndarray, n_frames: int) -> np.ndarray:
    """(n_frames, N) autonomous rollout from ``initial_frame`` (N,); row 0 is that frame."""
    import torch

    reference = next(model.parameters())
    x0 = torch.as_tensor(np.clip(initial_frame, 0.0, 1.0)[None, :], dtype=reference.dtype)
    with torch.no_grad():
        output = model(x0.to(reference.device), int(n_frames))[:, 0]
    return output.cpu().numpy().astype(np.float64)


def initialise_from_data(model, target: np.ndarray) -> None:
    """Start the network at the recording's time-average instead of an arbitrary level.

    Rate network: thresholds b = g (W m) − logit(m), which makes the neurons' mean activity m
    (N,) a fixed point of r ← d r + (1 − d) sigmoid(g W r − b). Spiking network: readout biases
    c = logit(m) − g r̄, with r̄ each unit's mean filtered spike rate in one rollout of the
    initial network, so its output starts near m. Only biases change; the weights keep their
    random initialisation. Why: the rollout otherwise starts far from the data's level and the
    first hundreds of iterations only learn the mean.
    """
    import torch

    from neurocircuit.models.activity import RateActivityNetwork

    mean = np.clip(np.asarray(target, dtype=np.float64).mean(axis=0), 1e-3, 1 - 1e-3)
    reference = next(model.parameters())
    logit_mean = torch.as_tensor(np.log(mean / (1 - mean)), dtype=reference.dtype)
    with torch.no_grad():
        if isinstance(model, RateActivityNetwork):
            drive = model.effective_recurrent_weight() @ torch.as_tensor(
                mean, dtype=reference.dtype
            )
            model.threshold.copy_(model.gain() * drive - logit_mean)
            return
        output = torch.as_tensor(rollout(model, target[0], target.shape[0]), dtype=reference.dtype)
        gain = model.readout_gain()
        filtered = (torch.logit(output.clamp(1e-4, 1 - 1e-4)) - model.readout_bias) / gain
        model.readout_bias.copy_(logit_mean - gain * filtered.mean(dim=0))


# ---------------------------------------------------------------- training
@dataclass(frozen=True)
class FitRun:
    """A trained network with its history: ``result`` is neurocircuit.learning's TrainResult."""

    model: object
    result: object
    iterations_to_convergence: int | None


def iterations_to_reach(history: list[dict], level: float) -> int | None:
    """Parameter updates made before the training rollout first scored pVar ≥ ``level``.

    Row k of the history (epoch k, 1-based) scores the rollout made with the weights after
    k − 1 updates; None when no rollout reached ``level``.
    """
    for row in history:
        if float(row["train_score"]) >= level:
            return int(row["epoch"]) - 1
    return None


def train_on_sequence(
    target: np.ndarray,
    spec: ModelSpec,
    *,
    network_options: dict,
    training: dict,
    seed: int,
    device: str = "auto",
    convergence_pvar: float = 0.9,
    checkpoint_path: str | Path | None = None,
    logger=None,
) -> FitRun:
    """Train a network of N units to reproduce ``target`` (T, N) in [0, 1] by rollout from frame 0.

    ``training``: neurocircuit.learning.TrainConfig fields, plus ``stop_pvar`` (stop once the
    rollout's pVar reaches it: the paper's criterion; maps to ``target_score``). The method comes
    from ``spec``. Selection and stopping only ever look at ``target`` (training frames).
    """
    from neurocircuit.learning import SequenceFitTask, TrainConfig, train

    options = dict(training)
    stop_pvar = options.pop("stop_pvar", None)
    cfg = TrainConfig.from_dict(
        {
            **options,
            "method": spec.method,
            "seed": int(seed),
            "device": device,
            "target_score": stop_pvar,
        }
    )
    model = build_network(spec, target.shape[1], network_options, seed)
    if network_options.get("init_from_data", True):
        initialise_from_data(model, target)
    result = train(
        model,
        SequenceFitTask(),
        target.astype(np.float32),
        None,
        cfg,
        checkpoint_path=checkpoint_path,
        logger=logger,
    )
    model.cpu()
    return FitRun(model, result, iterations_to_reach(result.history, convergence_pvar))


def history_table(history: list[dict]):
    """The training history as the figures read it: ``iteration`` (updates done before this
    rollout), ``pvar`` (that rollout's pVar on the training frames), and the loop's other
    columns (loss, learning rate, gradient norm, time per epoch, validation scores)."""
    table = pd.DataFrame(history)
    table.insert(0, "iteration", table["epoch"] - 1)
    table.insert(1, "pvar", table.pop("train_score"))
    table.insert(2, "loss", table.pop("train_loss"))
    table["elapsed_s"] = table["epoch_time_s"].cumsum()
    return table


# ---------------------------------------------------------------- rule entry points
@dataclass(frozen=True)
class FitSettings:
    """Everything a fit rule needs besides its files (the ``fit`` config section, resolved)."""

    dataset: str
    model: str
    seed: int
    preprocessing: Preprocessing
    network: dict
    training: dict
    heldout_fraction: float = 0.2
    convergence_pvar: float = 0.9
    ar1_ridge: float | None = None
    frame_period_s: float | None = None
    max_neurons: int | None = None
    max_frames: int | None = None
    device: str = "auto"

    @classmethod
    def from_config(cls, fit_config: dict, dataset: str, model: str, seed: int, device: str):
        """Resolve the ``fit`` config section for one (dataset, model, seed) run."""
        training = {**fit_config["training"], **fit_config["training_by_model"].get(model, {})}
        return cls(
            dataset=dataset,
            model=model,
            seed=int(seed),
            preprocessing=Preprocessing(**fit_config["preprocessing"]),
            network=fit_config["network"],
            training=training,
            heldout_fraction=fit_config["heldout_fraction"],
            convergence_pvar=fit_config["convergence_pvar"],
            ar1_ridge=fit_config["ar1_ridge"],
            frame_period_s=fit_config["zebrafish"]["frame_period_s"],
            max_neurons=fit_config["max_neurons"],
            max_frames=fit_config["max_frames"],
            device=device,
        )

    def provenance(self) -> dict:
        data = asdict(self)
        data["preprocessing"] = describe_preprocessing(self.preprocessing)
        return data


def _train_run(target, spec, settings: FitSettings, checkpoint: Path, logger):
    """Train one fit of ``settings`` on ``target``, resuming from ``checkpoint`` if present."""
    return train_on_sequence(
        target,
        spec,
        network_options=settings.network,
        training=settings.training,
        seed=settings.seed,
        device=settings.device,
        convergence_pvar=settings.convergence_pvar,
        checkpoint_path=checkpoint,
        logger=logger,
    )


def _run_labels(settings: FitSettings) -> dict:
    spec = parse_model_name(settings.model)
    return {
        "dataset": settings.dataset,
        "model": settings.model,
        "seed": settings.seed,
        "dynamics": spec.dynamics,
        "dale": spec.dale,
        "dale_mode": spec.dale_mode if spec.dale else None,
        "method": spec.method,
    }


def resume_checkpoint_path(output_path: str | Path, settings: FitSettings, split: str) -> Path:
    """Where training checkpoints of this run live while it trains (resumed after a kill).

    The name carries a hash of the settings so a changed config never resumes a stale run.
    """
    from neurocircuit.runtime import config_hash

    digest = config_hash({"split": split, **settings.provenance()})
    return Path(output_path).parent / "resume" / f"{split}-{digest}.pt"


def _remove_checkpoint(checkpoint: Path) -> None:
    """Delete a finished run's training checkpoint (and its folder when that is left empty)."""
    checkpoint.unlink(missing_ok=True)
    try:
        checkpoint.parent.rmdir()
    except OSError:
        pass


def write_prediction_h5(path, target, prediction, time_s, attributes: dict) -> None:
    """``target`` and ``prediction`` (stored neurons × time, float32) and ``time_s``, atomically."""
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            h5.create_dataset("target", data=np.asarray(target, np.float32).T)
            h5.create_dataset("prediction", data=np.asarray(prediction, np.float32).T)
            h5.create_dataset("time_s", data=np.asarray(time_s, np.float64))
            for key, value in attributes.items():
                h5.attrs[key] = "" if value is None else value


def _write_csv(table, path) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def _named_scores(prefix: str, prediction, target) -> dict:
    from neurocircuit.metrics import score_prediction

    scores = score_prediction(prediction, target)
    return {
        prefix: scores["pvar"],
        f"{prefix}_per_neuron_median": scores["pvar_per_neuron_median"],
    }


def fit_activity_file(
    activity_path: str | Path,
    outputs: dict,
    settings: FitSettings,
    logger=None,
) -> dict:
    """The in-sample fit of one (dataset, model, seed): train on the whole recording, score
    the rollout and the baselines on the predicted frames 1..T-1.

    ``outputs``: paths for ``model`` (.pt), ``prediction`` (.h5), ``history`` (.csv),
    ``per_neuron`` (.csv), ``weights`` (.npz: ``weights`` presynaptic × postsynaptic and
    ``neuron_sign``, empty without Dale) and ``scores`` (.json). Returns the scores.
    """
    from neurocircuit.metrics import predict_ar1_rollout, pvar_per_neuron, select_ar1_ridge
    from neurocircuit.runtime import package_versions, write_json

    spec = parse_model_name(settings.model)
    recording = load_activity(
        activity_path, settings.frame_period_s, settings.max_neurons, settings.max_frames
    )
    target = preprocess(recording.traces, settings.preprocessing)
    if logger:
        logger.info(
            "%s: %d neurons x %d frames, %s min-max, sigma %.3g frames; training %s",
            activity_path,
            recording.n_neurons,
            recording.n_frames,
            settings.preprocessing.normalisation,
            settings.preprocessing.smoothing_sigma_frames,
            settings.model,
        )
    checkpoint = resume_checkpoint_path(outputs["scores"], settings, "full")
    run = _train_run(target, spec, settings, checkpoint, logger)
    prediction = rollout(run.model, target[0], target.shape[0])
    ridge = settings.ar1_ridge if settings.ar1_ridge is not None else select_ar1_ridge(target)
    ar1 = predict_ar1_rollout(target, ridge)
    scored = slice(1, None)  # frame 0 is given to every predictor
    mean_prediction = np.broadcast_to(target[scored].mean(axis=0), target[scored].shape)
    scores = {
        **_run_labels(settings),
        **_named_scores("pvar", prediction[scored], target[scored]),
        **_named_scores("baseline_pvar_mean", mean_prediction, target[scored]),
        **_named_scores("baseline_pvar_ar1", ar1[scored], target[scored]),
        "ar1_ridge": ridge,
        "normalisation": settings.preprocessing.normalisation,
        "preprocessing": describe_preprocessing(settings.preprocessing),
        "scored_frames": "1..T-1 of the whole recording (frame 0 starts every rollout)",
        "n_neurons": recording.n_neurons,
        "n_frames": recording.n_frames,
        "frame_period_s": recording.frame_period_s,
        "interpolated_values": recording.interpolated_values,
        "convergence_pvar": settings.convergence_pvar,
        f"iterations_to_pvar_{settings.convergence_pvar:g}": run.iterations_to_convergence,
        "iterations": run.result.epochs_run,
        "best_iteration": run.result.best_epoch,
        "best_training_pvar": run.result.best_score,
        "stop_reason": run.result.stop_reason,
        "wall_time_s": float(sum(row["epoch_time_s"] for row in run.result.history)),
        "device": run.result.device,
        "settings": settings.provenance(),
        "versions": package_versions(),
        "source": recording.source,
    }
    per_neuron = pd.DataFrame(
        {
            "neuron": np.arange(recording.n_neurons),
            "pvar": pvar_per_neuron(prediction[scored], target[scored]),
            "baseline_mean": pvar_per_neuron(mean_prediction, target[scored]),
            "baseline_ar1": pvar_per_neuron(ar1[scored], target[scored]),
        }
    )
    weight = run.model.recurrent_weight().numpy()
    sign = run.model.neuron_sign()
    metadata = {
        **_run_labels(settings),
        "preprocessing": describe_preprocessing(settings.preprocessing),
    }
    save_fitted_model(run.model, outputs["model"], metadata)
    write_prediction_h5(
        outputs["prediction"],
        target,
        prediction,
        recording.time_s,
        {
            **_run_labels(settings),
            "normalisation": scores["normalisation"],
            "smoothing_sigma_frames": settings.preprocessing.smoothing_sigma_frames,
            "pvar": scores["pvar"],
        },
    )
    _write_csv(history_table(run.result.history), outputs["history"])
    _write_csv(per_neuron, outputs["per_neuron"])
    with atomic_path(outputs["weights"]) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                weights=weight.T,  # presynaptic × postsynaptic
                neuron_sign=np.zeros(0) if sign is None else sign.numpy(),
            )
    write_json(scores, outputs["scores"])
    _remove_checkpoint(checkpoint)
    return scores


def fit_heldout_file(
    activity_path: str | Path, outputs: dict, settings: FitSettings, logger=None
) -> dict:
    """Forecasting: train on the first (1 − heldout_fraction) of the frames, roll the network
    out from the last training frame over the held-out frames, score it and the forecasting
    baselines there. Each part is normalised with training statistics and smoothed alone.

    ``outputs``: ``model`` (.pt), ``prediction`` (.h5: held-out target and forecast),
    ``history`` (.csv) and ``scores`` (.json). Returns the scores.
    """
    from neurocircuit.metrics import (
        heldout_baseline_predictions,
        select_ar1_ridge,
        split_train_test,
    )
    from neurocircuit.runtime import write_json

    spec = parse_model_name(settings.model)
    recording = load_activity(
        activity_path, settings.frame_period_s, settings.max_neurons, settings.max_frames
    )
    n_train = split_train_test(recording.n_frames, settings.heldout_fraction)
    train_part, test_part = preprocess_split(recording.traces, settings.preprocessing, n_train)
    checkpoint = resume_checkpoint_path(outputs["scores"], settings, "heldout")
    run = _train_run(train_part, spec, settings, checkpoint, logger)
    forecast = rollout(run.model, train_part[-1], test_part.shape[0] + 1)[1:]
    ridge = settings.ar1_ridge if settings.ar1_ridge is not None else select_ar1_ridge(train_part)
    baselines = heldout_baseline_predictions(train_part, test_part, ridge)
    scores = {
        **_run_labels(settings),
        **_named_scores("pvar_heldout", forecast, test_part),
        "heldout_fraction": settings.heldout_fraction,
        "n_train_frames": n_train,
        "n_heldout_frames": int(test_part.shape[0]),
        "heldout_ar1_ridge": ridge,
        "heldout_training_pvar": run.result.best_score,
        "heldout_iterations": run.result.epochs_run,
        "heldout_wall_time_s": float(sum(row["epoch_time_s"] for row in run.result.history)),
        "heldout_protocol": "trained on the first frames only; the network and the AR(1) are "
        "rolled out from the last training frame; normalisation statistics from the training "
        "frames, smoothing per part",
    }
    for name, predicted in baselines.items():
        scores.update(_named_scores(f"baseline_pvar_{name}_heldout", predicted, test_part))
    save_fitted_model(run.model, outputs["model"], _run_labels(settings))
    write_prediction_h5(
        outputs["prediction"],
        test_part,
        forecast,
        recording.time_s[n_train:],
        {**_run_labels(settings), "normalisation": settings.preprocessing.normalisation},
    )
    _write_csv(history_table(run.result.history), outputs["history"])
    write_json(scores, outputs["scores"])
    _remove_checkpoint(checkpoint)
    return scores


def merge_fit_metrics(scores_path, heldout_path, metrics_path) -> dict:
    """metrics.json of a run: the in-sample scores with the held-out ones added."""
    import json

    from neurocircuit.runtime import write_json

    with open(scores_path) as fh:
        metrics = json.load(fh)
    with open(heldout_path) as fh:
        heldout = json.load(fh)
    metrics.update({k: v for k, v in heldout.items() if k not in metrics})
    write_json(metrics, metrics_path)
    return metrics


CONVERGENCE_COLUMNS = (
    "dataset",
    "model",
    "seed",
    "dynamics",
    "dale",
    "method",
    "convergence_pvar",
    "iterations_to_pvar",
    "reached",
    "iterations",
    "pvar",
    "wall_time_s",
    "device",
)


def convergence_table(metrics_paths) -> pd.DataFrame:
    """One row per run: iterations to reach the convergence pVar (empty when never reached),
    with the run's labels, final pVar and wall time."""
    import json

    rows = []
    for path in metrics_paths:
        with open(path) as fh:
            metrics = json.load(fh)
        level = metrics["convergence_pvar"]
        iterations = metrics[f"iterations_to_pvar_{level:g}"]
        rows.append(
            {
                **{
                    key: metrics[key]
                    for key in ("dataset", "model", "seed", "dynamics", "dale", "method")
                },
                "convergence_pvar": level,
                "iterations_to_pvar": iterations,
                "reached": iterations is not None,
                "iterations": metrics["iterations"],
                "pvar": metrics["pvar"],
                "wall_time_s": metrics["wall_time_s"],
                "device": metrics["device"],
            }
        )
    table = pd.DataFrame(rows, columns=list(CONVERGENCE_COLUMNS))
    table["iterations_to_pvar"] = table["iterations_to_pvar"].astype("Int64")
    return table


def write_convergence_table(metrics_paths, output_path) -> None:
    """results/fit/convergence.csv from every run's metrics.json."""
    _write_csv(convergence_table(metrics_paths), output_path)


# ---------------------------------------------------------------- jobs (what the rules call)
def fit_job(kind: str, activity_path, outputs: dict, run: dict, threads: int, log_file=None):
    """One fit rule: ``kind`` "full" (in-sample) or "heldout". ``run``: the fit config section
    under "fit" with the run's dataset, model, seed and device. Sets torch's threads."""
    from neurocircuit.runtime import configure_cpu_allocator, get_logger, set_threads

    set_threads(threads)
    configure_cpu_allocator()
    logger = get_logger(f"fit_{kind}", log_file)
    settings = FitSettings.from_config(
        run["fit"], run["dataset"], run["model"], run["seed"], run["device"]
    )
    if kind == "full":
        return fit_activity_file(activity_path, outputs, settings, logger)
    if kind == "heldout":
        return fit_heldout_file(activity_path, outputs, settings, logger)
    raise ValueError(f"fit_job: kind must be 'full' or 'heldout', got '{kind}'")


def check_activity_file(
    activity_path: str | Path,
    check_path: str | Path,
    fit_config: dict,
    dataset: str,
) -> dict:
    """Read a recording the way the fit jobs will and write a short summary (JSON).

    Runs as a light job before any training job, so a file with NaN rows, zero neurons or the
    wrong shape stops the workflow with one line naming the file, before a GPU job is queued.
    """
    from neurocircuit.runtime import write_json

    recording = load_activity(
        activity_path,
        fit_config["zebrafish"]["frame_period_s"],
        fit_config["max_neurons"],
        fit_config["max_frames"],
    )
    summary = {
        "dataset": dataset,
        "source": str(activity_path),
        "n_neurons": recording.n_neurons,
        "n_frames": recording.n_frames,
        "frame_period_s": recording.frame_period_s,
        "interpolated_values": recording.interpolated_values,
    }
    write_json(summary, check_path)
    return summary
