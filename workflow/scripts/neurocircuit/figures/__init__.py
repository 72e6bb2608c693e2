"""The study's figures, one module per family; every function reads result files and writes a
PNG and a PDF. ``style`` holds the shared palette, fonts, checked readers and atomic saving."""

from neurocircuit.figures.ablation import plot_ablation_areas, plot_ablation_curves
from neurocircuit.figures.activity import plot_pvar_per_neuron, plot_recorded_vs_fitted
from neurocircuit.figures.classification import (
    plot_classification_accuracy,
    plot_learning_curves,
)
from neurocircuit.figures.connectivity import plot_connectivity
from neurocircuit.figures.convergence import plot_convergence

__all__ = [
    "plot_ablation_areas",
    "plot_ablation_curves",
    "plot_classification_accuracy",
    "plot_connectivity",
    "plot_convergence",
    "plot_learning_curves",
    "plot_pvar_per_neuron",
    "plot_recorded_vs_fitted",
]
