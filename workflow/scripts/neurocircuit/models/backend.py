"""The one ``backend`` setting: which loop runs a rollout.

- ``"reference"``: the loop of the reference steps of ``models.dynamics`` under autograd (one
  graph node per operation and step); the definition every other backend is tested against.
- ``"torch"``: fused torch loops without a per-step graph and with a hand-written backward
  through time, on any device: ``models.fast_lif`` (the classifier's LIF-with-synapse layer
  and leaky readout, from zero state) and ``models.fused_rate`` / ``models.fused_spiking``
  (the activity networks; op for op the reference's arithmetic, so bitwise its outputs).
- ``"compiled"``: the activity networks' time loops compiled by numba
  (``models.activity_kernels``), on the CPU; outputs equal the reference's to rounding.
- ``"auto"`` (the default): the first of compiled, torch, reference that can run the call.

Which backends can run a call is said by one function, ``models.rollout.available_backends``
(dynamics, dtypes and devices, the start state, an external drive); ``choose_backend`` picks
one of them for the requested setting. A requested backend that cannot run a call gives the
reference loop (the same numbers; for example a classifier call that continues from a carried
state, as truncated BPTT does), except "compiled" on a device other than the CPU, which is an
error. The models take ``backend`` at construction (config: ``backend`` in the network or
model settings); ``use_fast_path`` (True: "auto", False: "reference") and the ``kernels``
attribute are still read, with a deprecation warning.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

BACKENDS = ("auto", "reference", "torch", "compiled")
PREFERENCE = ("compiled", "torch", "reference")
"""The order in which "auto" takes the backends that can run a call."""
FUSED_DTYPES = (torch.float32, torch.float64)
FUSED_DEVICES = ("cpu", "cuda")


def check_backend(backend: str, offered: tuple[str, ...] = BACKENDS) -> str:
    """Return ``backend`` if it is one of ``offered``, else a clear ValueError."""
    if backend not in offered:
        raise ValueError(f"backend must be one of {offered}, got {backend!r}")
    return backend


def backend_from_legacy(backend: str, use_fast_path: bool | None) -> str:
    """The backend of a model built with the deprecated ``use_fast_path`` (None: not given)."""
    if use_fast_path is None:
        return backend
    warnings.warn(
        "use_fast_path is deprecated: give backend='auto' (True) or backend='reference' (False)",
        DeprecationWarning,
        stacklevel=3,
    )
    if backend != "auto":
        raise ValueError("give backend or the deprecated use_fast_path, not both")
    return "auto" if use_fast_path else "reference"


def backend_from_kernels(kernels: str) -> str:
    """The backend that the deprecated ``kernels`` attribute ("auto", "compiled" or "torch")
    asked for."""
    warnings.warn(
        "the kernels attribute is deprecated: give backend ('auto', 'compiled' or 'torch')",
        DeprecationWarning,
        stacklevel=3,
    )
    return check_backend(kernels, ("auto", "compiled", "torch"))


class DeprecatedFastPath:
    """The deprecated ``use_fast_path`` attribute of a model with a ``backend`` attribute."""

    @property
    def use_fast_path(self) -> bool:
        """Deprecated: whether ``backend`` is not "reference"."""
        return self.backend != "reference"

    @use_fast_path.setter
    def use_fast_path(self, value: bool) -> None:
        self.backend = backend_from_legacy("auto", bool(value))


class DeprecatedFastPathAndKernels(DeprecatedFastPath):
    """``DeprecatedFastPath`` and the deprecated ``kernels`` attribute (the activity
    networks')."""

    @property
    def kernels(self) -> str:
        """Deprecated: the fused loops asked for ("auto", "compiled" or "torch")."""
        return self.backend if self.backend in ("compiled", "torch") else "auto"

    @kernels.setter
    def kernels(self, value: str) -> None:
        self.backend = backend_from_kernels(value)


def fused_tensors(*tensors: Tensor) -> bool:
    """Whether the fused loops can run on these tensors: all float32 or all float64, on one CPU
    or CUDA device."""
    first = tensors[0]
    if first.dtype not in FUSED_DTYPES or first.device.type not in FUSED_DEVICES:
        return False
    return all(t.dtype == first.dtype and t.device == first.device for t in tensors)


def choose_backend(requested: str, available: tuple[str, ...], device=None) -> str:
    """The backend that runs a call: for "auto" the first of ``PREFERENCE`` in ``available``
    (the backends that can run it, ``rollout.available_backends``), else ``requested`` where it
    is available and the reference loop where it is not; "compiled" where only the torch loops
    can run (a device other than the CPU: ``device``) is an error."""
    check_backend(requested)
    if requested == "auto":
        return next(name for name in PREFERENCE if name in available)
    if requested in available:
        return requested
    if requested == "compiled" and "torch" in available:
        raise ValueError(f"the compiled backend runs on the CPU only, not on {device}")
    return "reference"
