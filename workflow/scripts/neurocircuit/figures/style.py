"""Shared look and plumbing of every figure: palette, fonts, model labels, checked readers, saving.

Colours are the Okabe–Ito set (Okabe & Ito 2008), distinguishable under the common forms of colour
blindness; sequential maps are viridis and the diverging map is RdBu_r (both colour-blind safe).
Every figure is written twice, PNG (for the report) and PDF (for print), each atomically.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from neurocircuit.models.names import TEACHER, model_spec  # noqa: E402
from neurocircuit.runtime import atomic_path  # noqa: E402

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
# Categorical cycle (yellow last: it is faint on white).
CATEGORICAL = [
    OKABE_ITO[name]
    for name in ("blue", "orange", "green", "vermillion", "purple", "sky_blue", "black", "yellow")
]
DALE_COLOUR = OKABE_ITO["vermillion"]
DALE_SIGN_COLOUR = OKABE_ITO["orange"]  # NeuroTorch's variant: a learnable sign per neuron
NO_DALE_COLOUR = OKABE_ITO["blue"]
EXCITATORY_COLOUR = OKABE_ITO["vermillion"]
INHIBITORY_COLOUR = OKABE_ITO["blue"]
RECORDED_COLOUR = OKABE_ITO["black"]
FITTED_COLOUR = OKABE_ITO["orange"]
BASELINE_COLOURS = {
    "mean": OKABE_ITO["green"],
    "ar1": OKABE_ITO["purple"],
    "last_frame": OKABE_ITO["sky_blue"],
}
SEQUENTIAL_CMAP = "viridis"
DIVERGING_CMAP = "RdBu_r"
DYNAMICS_LINESTYLE = {"spiking": "-", "rate": "--", "unknown": ":"}
LEARNING_MARKER = {"eprop": "o", "bptt": "s", "tbptt": "^", "force": "v", "unknown": "D",
                   "bptt_windows": "P", "tbptt_windows": "X"}  # fmt: skip
LEARNING_NAMES = {  # in the figures' order
    "eprop": "e-prop",
    "bptt": "BPTT",
    "tbptt": "TBPTT",
    "force": "FORCE",
    "bptt_windows": "BPTT on windows",
    "tbptt_windows": "TBPTT on windows",
}
"""A model's learning as the figures name it: the method, and for a windows-trained model
(``*_windows``) the objective too."""


class FigureTraits(NamedTuple):
    """How a figure draws a model: dynamics (line style), Dale (colour), learning rule (marker)
    and whether the Dale signs are learnt (NeuroTorch's variant, ``dalesign``)."""

    dynamics: str
    dale: bool | None
    learning: str
    learned_sign: bool = False

    @property
    def dale_label(self) -> str:
        if self.learned_sign:
            return "Dale, learned sign"
        return {True: "Dale", False: "no Dale", None: "Dale?"}[self.dale]


UNKNOWN_TRAITS = FigureTraits("unknown", None, "unknown")
"""A name outside the fit grammar (a classification model): drawn in the neutral style."""


def figure_traits(model: str) -> FigureTraits:
    """The traits of ``model``'s spec (neurocircuit.models.names.model_spec; the teacher is a
    Dale rate network whose learning is "unknown": it is not trained); :data:`UNKNOWN_TRAITS`
    for any other name."""
    try:
        spec = model_spec(model)
    except ValueError:
        return UNKNOWN_TRAITS
    learned_sign = spec.dale_mode == "learnable_sign"
    learning = spec.method or "unknown"
    if spec.objective == "windows":
        learning = f"{learning}_windows"
    return FigureTraits(spec.dynamics, spec.dale, learning, learned_sign)


def apply_style(font_size: float = 10.0) -> None:
    """Set matplotlib's fonts, line widths and colour cycle for every figure of the study."""
    plt.rcParams.update(
        {
            "font.size": font_size,
            "axes.titlesize": font_size + 1,
            "axes.labelsize": font_size,
            "xtick.labelsize": font_size - 1,
            "ytick.labelsize": font_size - 1,
            "legend.fontsize": font_size - 1,
            "figure.titlesize": font_size + 2,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.prop_cycle": matplotlib.cycler(color=CATEGORICAL),
            "lines.linewidth": 1.5,
            "savefig.bbox": "tight",
            "pdf.fonttype": 42,
            "image.cmap": SEQUENTIAL_CMAP,
        }
    )


def save_figure(fig, png_path: str | Path, pdf_path: str | Path, dpi: int = 150) -> None:
    """Write ``fig`` as PNG and PDF, each atomically (a failed save leaves neither file), and close
    it."""
    try:
        with atomic_path(png_path) as tmp_png, atomic_path(pdf_path) as tmp_pdf:
            fig.savefig(tmp_png, format="png", dpi=dpi)
            fig.savefig(tmp_pdf, format="pdf", dpi=dpi)
    finally:
        plt.close(fig)


def model_label(model: str) -> str:
    """Readable label, e.g. ``spiking_dale_eprop`` -> "spiking, Dale, e-prop"."""
    if model == TEACHER:
        return "teacher (the true circuit)"
    traits = figure_traits(model)
    if "unknown" in (traits.dynamics, traits.learning) or traits.dale is None:
        return model
    return f"{traits.dynamics}, {traits.dale_label}, {LEARNING_NAMES[traits.learning]}"


def model_handles(models: Sequence[str]) -> list[Line2D]:
    """Legend entries, one per model, in the line figures' code: colour Dale / no Dale, line
    style spiking / rate, marker learning rule."""
    handles = []
    for model in models:
        traits = figure_traits(model)
        handles.append(
            Line2D(
                [],
                [],
                color=dale_colour(model),
                linestyle=DYNAMICS_LINESTYLE[traits.dynamics],
                marker=LEARNING_MARKER[traits.learning],
                label=model_label(model),
            )
        )
    return handles


def model_colours(models: Sequence[str]) -> dict[str, str]:
    """One categorical colour per model, in the given order (the same order gives the same
    colours in every figure)."""
    return {model: CATEGORICAL[i % len(CATEGORICAL)] for i, model in enumerate(models)}


def dale_colour(model: str) -> str:
    """Vermillion for Dale-constrained models (orange with learnable signs), blue for
    unconstrained ones, grey when unknown."""
    if model == TEACHER:
        return OKABE_ITO["black"]
    traits = figure_traits(model)
    if traits.learned_sign:
        return DALE_SIGN_COLOUR
    return {True: DALE_COLOUR, False: NO_DALE_COLOUR, None: "#777777"}[traits.dale]


def sort_models(models: Iterable[str]) -> list[str]:
    """Models in a stable, meaningful order: spiking before rate, no-Dale before Dale, e-prop
    before BPTT before TBPTT before FORCE before the windows-trained ones, then by name."""
    order_dyn = {"spiking": 0, "rate": 1, "unknown": 2}
    order_learn = {learning: i for i, learning in enumerate(LEARNING_NAMES)}
    order_learn["unknown"] = len(order_learn)

    def key(model):
        t = figure_traits(model)
        return (
            order_dyn[t.dynamics],
            {False: 0, None: 0, True: 1}[t.dale] + t.learned_sign,
            order_learn[t.learning],
            model,
        )

    return sorted(set(models), key=key)


# ---------------------------------------------------------------- checked readers
def read_table(path: str | Path, required: Sequence[str]) -> pd.DataFrame:
    """Read a CSV and check it has the ``required`` columns; clear error naming the file if not."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        table = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a readable CSV table ({error})") from None
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(table.columns)}"
        )
    if table.empty:
        raise ValueError(f"{path}: the table has no rows")
    return table


def read_json(path: str | Path, required: Sequence[str] = ()) -> dict:
    """Read a JSON object and check it has the ``required`` keys."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, found {type(data).__name__}")
    missing = [key for key in required if key not in data]
    if missing:
        raise ValueError(f"{path}: missing key(s) {', '.join(missing)}")
    return data


class RunId(NamedTuple):
    """Where a result file sits in the results tree: dataset, model and seed."""

    dataset: str
    model: str
    seed: int


_RUN_DIR = re.compile(r"(?P<dataset>[^/]+)/(?P<model>[^/]+)/seed(?P<seed>\d+)(?:/[^/]+|\.\w+)$")


def run_id(path: str | Path) -> RunId:
    """Dataset, model and seed of ``.../{dataset}/{model}/seed{seed}/<file>`` or
    ``.../{dataset}/{model}/seed{seed}.csv`` (the results layout every stage writes)."""
    match = _RUN_DIR.search(Path(path).as_posix())
    if match is None:
        raise ValueError(
            f"{path}: not a per-run result path (expected .../{{dataset}}/{{model}}/seed{{seed}}/"
            "<file> or .../{dataset}/{model}/seed{seed}.csv)"
        )
    return RunId(match["dataset"], match["model"], int(match["seed"]))


def as_percent(values) -> np.ndarray:
    """Accuracies as percent: values all within [0, 1] are fractions and are multiplied by 100."""
    array = np.asarray(values, dtype=float)
    finite = array[np.isfinite(array)]
    if finite.size and np.all(finite <= 1.0):
        return array * 100.0
    return array
