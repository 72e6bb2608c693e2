"""neurocircuit: from volumetric calcium imaging to biologically constrained recurrent networks.

The library behind the Snakemake workflow. Sub-packages: ``imaging`` (raw movies to ΔF/F),
``models`` (spiking and rate dynamics, Dale's law), ``learning`` (BPTT, e-prop, the training
loop), ``data`` (classification data sets and encoders), ``fit`` (fitting recorded activity),
``ablation`` and ``figures``. Nothing here imports Snakemake.
"""

__version__ = "0.1.0"
