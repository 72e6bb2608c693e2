"""Connectivity figures: effective recurrent weight matrices with each neuron's E/I identity."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap, TwoSlopeNorm
from matplotlib.patches import Patch

from neurocircuit.figures.style import (
    DIVERGING_CMAP,
    EXCITATORY_COLOUR,
    INHIBITORY_COLOUR,
    apply_style,
    model_label,
    run_id,
    save_figure,
    sort_models,
)

WEIGHTS_KEY = "weights"
SIGN_KEY = "neuron_sign"


def read_connectivity(
    path: str | Path, presynaptic_axis: int = 0
) -> tuple[np.ndarray, np.ndarray | None]:
    """Recurrent weights as a (presynaptic × postsynaptic) matrix and the neuron signs (+1 / −1,
    or None when the file has none or an empty one) from a ``.npz`` with ``weights`` and optional
    ``neuron_sign`` (learnable signs are reduced to their sign).

    ``presynaptic_axis`` says which axis of the stored matrix indexes the presynaptic neuron
    (0 for ``x @ W``, 1 for ``W @ x``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        with np.load(path) as archive:
            if WEIGHTS_KEY not in archive:
                raise ValueError(
                    f"{path}: missing array '{WEIGHTS_KEY}'; found {', '.join(archive.files)}"
                )
            weights = np.asarray(archive[WEIGHTS_KEY], dtype=np.float64)
            signs = np.asarray(archive[SIGN_KEY], dtype=np.float64) if SIGN_KEY in archive else None
    except (OSError, EOFError) as error:
        raise ValueError(f"{path}: not a readable .npz archive ({error})") from None
    if weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
        raise ValueError(f"{path}: '{WEIGHTS_KEY}' must be a square matrix, got {weights.shape}")
    if presynaptic_axis == 1:
        weights = weights.T
    if signs is not None and signs.size == 0:
        signs = None  # an empty sign vector: no fixed identities (no Dale's law)
    if signs is not None:
        signs = signs.reshape(-1)
        if signs.shape != (weights.shape[0],):
            raise ValueError(
                f"{path}: '{SIGN_KEY}' has {signs.size} entries for {weights.shape[0]} neurons"
            )
        signs = np.where(signs >= 0, 1.0, -1.0)
    return weights, signs


def neuron_identity(weights: np.ndarray, signs: np.ndarray | None) -> tuple[np.ndarray, bool]:
    """+1 (excitatory) / −1 (inhibitory) per presynaptic neuron, and whether it is a fixed
    identity. Without signs (no Dale's law) the identity is the sign of the net outgoing weight."""
    if signs is not None:
        return signs, True
    return np.where(weights.sum(axis=1) >= 0, 1.0, -1.0), False


def excitatory_first(identity: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Neuron order: excitatory then inhibitory, each by decreasing total outgoing |weight|."""
    strength = np.abs(weights).sum(axis=1)
    return np.lexsort((-strength, identity < 0))


def _read_panels(
    weight_files: Sequence[str | Path], presynaptic_axis: int
) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """(weights, signs) of the first file of each model, keyed by model (every file is read, so
    a broken one stops the figure even when it is not drawn)."""
    panels = {}
    for path in weight_files:
        run = run_id(path)
        panels.setdefault(run.model, read_connectivity(path, presynaptic_axis))
    return panels


def _connectivity_panel(
    fig,
    cell,
    model: str,
    weights: np.ndarray,
    signs: np.ndarray | None,
    clip_percentile: float,
    font_size: float,
):
    """One model's panel in grid cell ``cell``: the identity side bar and the weight matrix
    (E then I, divided by its own scale), with E/I counts, the share of weights against the
    sign and the scale in the title. Returns the matrix image (for the colour bar)."""
    identity, fixed = neuron_identity(weights, signs)
    order = excitatory_first(identity, weights)
    n_exc = int((identity > 0).sum())
    limit = float(np.percentile(np.abs(weights), clip_percentile)) or 1e-12
    halves = cell.subgridspec(1, 2, width_ratios=[0.06, 1], wspace=0.03)
    ax_bar = fig.add_subplot(halves[0])
    ax = fig.add_subplot(halves[1], sharey=ax_bar)
    ax_bar.imshow(
        identity[order, None],
        aspect="auto",
        cmap=ListedColormap([INHIBITORY_COLOUR, EXCITATORY_COLOUR]),
        vmin=-1,
        vmax=1,
        interpolation="nearest",
    )
    ax_bar.set_xticks([])
    ax_bar.set_ylabel("presynaptic neuron (E then I)")
    image = ax.imshow(
        weights[np.ix_(order, order)] / limit,
        aspect="auto",
        cmap=DIVERGING_CMAP,
        norm=TwoSlopeNorm(0.0, -1.0, 1.0),
        interpolation="nearest" if weights.shape[0] <= 200 else "antialiased",
    )
    for axis in (ax.axhline, ax.axvline):
        axis(n_exc - 0.5, color="black", linewidth=0.8)
    ax.tick_params(labelleft=False)
    ax.set_xlabel("postsynaptic neuron (same order)")
    kind = "fixed identity" if fixed else "net sign (no fixed identity)"
    wrong = (np.sign(weights) * identity[:, None]) < 0
    breaking = 100.0 * wrong.sum() / max(1, np.count_nonzero(weights))
    ax.set_title(
        f"{model_label(model)}\n{kind}: {n_exc} E / {identity.size - n_exc} I\n"
        f"{breaking:.0f} % of weights against the sign; scale {limit:.3g}",
        fontsize=font_size - 0.5,
    )
    return image


def _identity_legend(fig) -> None:
    """Legend under the figure for the side bars' colours."""
    fig.legend(
        handles=[
            Patch(color=EXCITATORY_COLOUR, label="excitatory"),
            Patch(color=INHIBITORY_COLOUR, label="inhibitory"),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=2,
        frameon=False,
        title="side bar: presynaptic identity",
    )


def plot_connectivity(
    weight_files: Sequence[str | Path],
    png_path: str | Path,
    pdf_path: str | Path,
    *,
    presynaptic_axis: int = 0,
    clip_percentile: float = 99.0,
    dpi: int = 150,
    font_size: float = 10.0,
) -> None:
    """One panel per model: the effective recurrent weight matrix (rows presynaptic, columns
    postsynaptic), neurons sorted excitatory then inhibitory, diverging colours centred on zero,
    each panel divided by its own scale (the ``clip_percentile`` of |w|, given in its title, since
    spiking and rate weights differ in size) and clipped at ±1, and a side bar with each neuron's
    identity.

    Dale models use their fixed signs; models without Dale's law show the sign of each neuron's
    net outgoing weight and the share of its outgoing weights that break that sign.
    ``weight_files`` are ``results/fit/{dataset}/{model}/seed{seed}/weights.npz``.
    """
    if not weight_files:
        raise ValueError("plot_connectivity: no weight files given")
    panels = _read_panels(weight_files, presynaptic_axis)
    models = sort_models(panels)
    apply_style(font_size)
    n_cols = min(len(models), 4)
    n_rows = int(np.ceil(len(models) / n_cols))
    fig = plt.figure(figsize=(4.1 * n_cols + 0.9, 4.0 * n_rows + 0.6))
    grid = fig.add_gridspec(
        n_rows, n_cols + 1, width_ratios=[1] * n_cols + [0.05], wspace=0.35, hspace=0.45
    )
    image = None
    for index, model in enumerate(models):
        cell = grid[index // n_cols, index % n_cols]
        image = _connectivity_panel(
            fig, cell, model, *panels[model], clip_percentile=clip_percentile, font_size=font_size
        )
    fig.colorbar(
        image,
        cax=fig.add_subplot(grid[:, -1]),
        label=f"weight / panel scale ({clip_percentile:g}th percentile of |w|)",
    )
    _identity_legend(fig)
    dataset = run_id(weight_files[0]).dataset
    fig.suptitle(f"Recurrent connectivity on {dataset} (one seed per model)", y=1.04)
    save_figure(fig, png_path, pdf_path, dpi)
