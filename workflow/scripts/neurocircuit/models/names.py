"""The grammar of model names, in one place: fit, ablation and figures all read names here.

A fitted activity model is named ``{dynamics}_{dale}_{method}[_windows]``: dynamics "spiking" or
"rate", dale "dale" (fixed identities), "dalesign" (NeuroTorch's learnable sign) or "nodale", method
"bptt", "tbptt", "eprop" or "force" (:func:`parse_model_name`; FORCE only as ``rate_nodale_force``,
see :data:`FORCE_REFUSALS`), and the training objective: none (the paper's single rollout from
the first frame) or ``_windows`` (forecasts from many windows, each from its causal start state:
:mod:`neurocircuit.fit.window_task`; BPTT and truncated BPTT only, see
:data:`WINDOWS_REFUSALS`). The parsed name, :class:`ModelSpec`, is the one identity of a model
that fit, ablation, statistics and figures read (and that each fit saves in its metrics as
``spec``). The ``teacher`` (the known circuit of a synthetic recording) is the one other model:
:func:`model_spec` gives it :data:`TEACHER_SPEC`; any other name is refused, nothing is guessed.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

TEACHER = "teacher"
"""The known circuit of a synthetic recording, ablated and drawn beside the fitted models."""
MODEL_NAME_PATTERN = (
    r"^(spiking|rate)_(dale|dalesign|nodale)_(bptt|tbptt|eprop|force)(?:_(windows))?$"
)
ROLLOUT, WINDOWS = "rollout", "windows"
"""The training objectives: the paper's single rollout, and forecasts from many windows."""
WINDOWS_REFUSALS = {
    "eprop": "e-prop's eligibility traces run forward from one start; training on windows "
    "needs a gradient through each window's own rollout (BPTT or truncated BPTT)",
    "force": "FORCE's recursive least squares updates W along one trajectory at every step; "
    "training on windows needs a gradient through each window's own rollout (BPTT or "
    "truncated BPTT)",
}
"""Why a ``_windows`` name with method "eprop" or "force" is refused."""
DALE_VARIANTS = {
    "dale": (True, "fixed"),
    "dalesign": (True, "learnable_sign"),
    "nodale": (False, "fixed"),
}
FORCE_REFUSALS = {
    "spiking": "FORCE (recursive least squares) fits rate networks only: a spiking network's "
    "update has no inverse that turns the next recorded frame into a target drive for W",
    "dale": "FORCE has no principled projection of its recursive-least-squares updates onto "
    "Dale's sign constraints (clipping wrong-signed weights leaves P describing another "
    "problem)",
}
"""Why a name with method "force" is refused, by what it asks for (spiking dynamics, Dale)."""


@dataclass(frozen=True)
class ModelSpec:
    """What a model name means: ``{dynamics}_{dale}_{method}[_windows]``.

    dynamics: "spiking" (LIF with synaptic current, low-pass filtered, sigmoid readout) or
    "rate" (Wilson–Cowan); dale: "dale" (fixed identities), "dalesign" (NeuroTorch's learnable
    sign) or "nodale"; method: "bptt", "tbptt", "eprop" or "force" (rate, nodale only);
    objective: "rollout" or "windows" (bptt and tbptt only).
    """

    name: str
    dynamics: str
    dale: bool
    dale_mode: str
    method: str | None
    """None for the teacher, which is not trained."""
    objective: str = ROLLOUT
    """"rollout" (the paper's single rollout) or "windows" (the ``_windows`` suffix)."""

    @property
    def dale_variant(self) -> str:
        """The name's Dale token: "dale", "dalesign" or "nodale"."""
        return next(k for k, v in DALE_VARIANTS.items() if v == (self.dale, self.dale_mode))

    @property
    def learns_sign(self) -> bool:
        """Whether training sets each neuron's sign (``dalesign`` and ``nodale``)."""
        return self.dale_mode == "learnable_sign" or not self.dale

    @property
    def is_teacher(self) -> bool:
        return self.name == TEACHER

    def factors(self) -> dict:
        """The factor levels the ablation summary compares, e.g. ``rate_dalesign_eprop`` →
        {dynamics: rate, dale: dalesign, method: eprop}; all None for the teacher (it joins
        no comparison)."""
        if self.is_teacher:
            return {"dynamics": None, "dale": None, "method": None, "objective": None}
        return {
            "dynamics": self.dynamics,
            "dale": self.dale_variant,
            "method": self.method,
            "objective": self.objective,
        }

    def to_dict(self) -> dict:
        """The spec as saved in a run's metrics (``spec``)."""
        return asdict(self)


def parse_model_name(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of a model name such as ``spiking_dale_eprop``; a ValueError
    for a name outside the grammar and for FORCE on spiking or Dale networks (one line that
    says why, :data:`FORCE_REFUSALS`)."""
    match = re.match(MODEL_NAME_PATTERN, name)
    if match is None:
        raise ValueError(
            f"model name '{name}' is not {{spiking|rate}}_{{dale|dalesign|nodale}}_"
            "{bptt|tbptt|eprop|force}[_windows]"
        )
    dynamics, dale_key, method, windows = match.groups()
    dale, dale_mode = DALE_VARIANTS[dale_key]
    if method == "force" and (dynamics == "spiking" or dale):
        reason = FORCE_REFUSALS["spiking" if dynamics == "spiking" else "dale"]
        raise ValueError(f"model '{name}' is refused: {reason}; use rate_nodale_force")
    if windows and method in WINDOWS_REFUSALS:
        raise ValueError(f"model '{name}' is refused: {WINDOWS_REFUSALS[method]}")
    return ModelSpec(name, dynamics, dale, dale_mode, method, WINDOWS if windows else ROLLOUT)


TEACHER_SPEC = ModelSpec(TEACHER, "rate", True, "fixed", None)
"""The teacher: a Dale rate network with fixed identities, not trained (no method)."""


def model_spec(name: str) -> ModelSpec:
    """The spec of any model the workflow fits or ablates: :func:`parse_model_name`, or
    :data:`TEACHER_SPEC` for ``teacher`` (the one special case)."""
    return TEACHER_SPEC if name == TEACHER else parse_model_name(name)
