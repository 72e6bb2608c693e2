"""The grammar of model names, in one place: fit, ablation and figures all read names here.

A fitted activity model is named ``{dynamics}_{dale}_{method}``: dynamics "spiking" or "rate",
dale "dale" (fixed identities), "dalesign" (NeuroTorch's learnable sign) or "nodale", method
"bptt", "tbptt", "eprop" or "force" (:func:`parse_model_name`; FORCE only as ``rate_nodale_force``,
see :data:`FORCE_REFUSALS`). Figures also show other names (the
classification models, a ground-truth ``teacher``): :func:`model_traits` reads what it can of any
name and says "unknown" for the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

TEACHER = "teacher"
"""The known circuit of a synthetic recording, ablated and drawn beside the fitted models."""
MODEL_NAME_PATTERN = r"^(spiking|rate)_(dale|dalesign|nodale)_(bptt|tbptt|eprop|force)$"
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
    """What a model name means: ``{dynamics}_{dale}_{method}``.

    dynamics: "spiking" (LIF with synaptic current, low-pass filtered, sigmoid readout) or
    "rate" (Wilson–Cowan); dale: "dale" (fixed identities), "dalesign" (NeuroTorch's learnable
    sign) or "nodale"; method: "bptt", "tbptt", "eprop" or "force" (rate, nodale only).
    """

    name: str
    dynamics: str
    dale: bool
    dale_mode: str
    method: str


def parse_model_name(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of a model name such as ``spiking_dale_eprop``; a ValueError
    for a name outside the grammar and for FORCE on spiking or Dale networks (one line that
    says why, :data:`FORCE_REFUSALS`)."""
    match = re.match(MODEL_NAME_PATTERN, name)
    if match is None:
        raise ValueError(
            f"model name '{name}' is not {{spiking|rate}}_{{dale|dalesign|nodale}}_"
            "{bptt|tbptt|eprop|force}"
        )
    dynamics, dale_key, method = match.groups()
    dale, dale_mode = DALE_VARIANTS[dale_key]
    if method == "force" and (dynamics == "spiking" or dale):
        reason = FORCE_REFUSALS["spiking" if dynamics == "spiking" else "dale"]
        raise ValueError(f"model '{name}' is refused: {reason}; use rate_nodale_force")
    return ModelSpec(name, dynamics, dale, dale_mode, method)


class ModelTraits(NamedTuple):
    """What a model name says: dynamics (spiking/rate), Dale's law or not, learning rule, and
    whether the Dale signs are learnable (NeuroTorch's variant, ``dalesign``)."""

    dynamics: str
    dale: bool | None
    learning: str
    learned_sign: bool = False

    @property
    def dale_label(self) -> str:
        if self.learned_sign:
            return "Dale, learned sign"
        return {True: "Dale", False: "no Dale", None: "Dale?"}[self.dale]


_NO_DALE = re.compile(r"(?:^|[_\-])(?:no[_\-]?dale|nodale|free|unconstrained)(?:$|[_\-])")
_DALE = re.compile(r"(?:^|[_\-])dale(?:$|[_\-])")


def model_traits(model: str) -> ModelTraits:
    """Parse a model name such as ``spiking_dale_eprop`` or ``rate-nodale-bptt``.

    Recognised tokens: spiking/snn/lif/alif vs rate/wc/wilson_cowan; dale vs dalesign (learnable
    sign) vs nodale/no_dale/no-dale; eprop/e_prop vs bptt vs tbptt vs force. Unknown parts
    are reported as "unknown" (or None for Dale).
    """
    if model == TEACHER:  # a Dale rate network with fixed identities, not trained
        return ModelTraits("rate", True, "unknown")
    try:
        spec = parse_model_name(model)
    except ValueError:
        spec = None
    if spec is not None:
        return ModelTraits(
            spec.dynamics, spec.dale, spec.method, spec.dale_mode == "learnable_sign"
        )
    name = model.lower()
    tokens = set(re.split(r"[_\-]+", name))
    if tokens & {"spiking", "snn", "lif", "alif", "lifsyn", "spike"}:
        dynamics = "spiking"
    elif tokens & {"rate", "wc", "wilson", "wilsoncowan"} or "wilson" in name:
        dynamics = "rate"
    else:
        dynamics = "unknown"
    learned_sign = bool(tokens & {"dalesign", "learnedsign", "learnablesign"})
    if _NO_DALE.search(name):
        dale: bool | None = False
    elif _DALE.search(name) or learned_sign:
        dale = True
    else:
        dale = None
    if tokens & {"eprop"} or "e_prop" in name or "e-prop" in name:
        learning = "eprop"
    elif "tbptt" in tokens:
        learning = "tbptt"
    elif "bptt" in tokens:
        learning = "bptt"
    elif "force" in tokens:
        learning = "force"
    else:
        learning = "unknown"
    return ModelTraits(dynamics, dale, learning, learned_sign)
