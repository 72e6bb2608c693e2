"""Fitting recorded activity: one recurrent unit per recorded neuron, rolled out on its own output.

The protocol of NeuroTorch (Gince et al. 2024), fixed here as one documented preset: load and
preprocess the recording (:mod:`.recording`), train a network by rollout from the first frame
(:mod:`.training`), score it beside baselines in sample and on held-out frames (:mod:`.jobs`),
and tabulate convergence over runs (:mod:`.convergence`); the zebrafish recording is fetched
by :mod:`.download`. A run's settings are resolved from the
config in :mod:`.settings`. Networks themselves (build, save, load, rollout) live beside the
models, in neurocircuit.models.fitted.
"""
