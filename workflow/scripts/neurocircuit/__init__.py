"""neurocircuit: from volumetric calcium imaging to biologically constrained recurrent networks.

The library behind the Snakemake workflow. Sub-packages: ``imaging`` (raw movies to ΔF/F),
``models`` (spiking and rate dynamics, Dale's law), ``learning`` (BPTT, e-prop, the training
loop), ``data`` (classification data sets and encoders), ``fit`` (fitting recorded activity),
``ablation`` and ``figures``. Nothing here imports Snakemake.

A fitted network in a notebook: ``neurocircuit.load_fit("results/fit/{dataset}/{model}/seed0")``
(:mod:`neurocircuit.api`, docs/python-api.md), imported on first use so that importing the
package stays light.
"""

__version__ = "0.1.0"

_API = ("load_fit", "FittedRun", "read_run_metrics")


def __getattr__(name: str):
    """``load_fit``, ``FittedRun`` and ``read_run_metrics`` of :mod:`neurocircuit.api`, imported
    when first asked for."""
    if name in _API:
        from neurocircuit import api

        return getattr(api, name)
    raise AttributeError(f"module 'neurocircuit' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])
