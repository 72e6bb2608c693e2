"""Imaging stage: raw volumetric calcium imaging (or suite2p output, or traces) to ΔF/F.

Modules: ``synthetic`` (simulated volume with ground truth), ``readers`` (movies, suite2p folders,
traces; every bad input is one clear error), ``planes`` (split a movie into per-plane binaries),
``suite2p_plane`` (registration and detection of one plane with suite2p), ``merge`` (one neuron,
one row across planes), ``dff`` (neuropil correction, baseline, ΔF/F, masked frames),
``evaluate`` (recall and correlation against ground truth), ``activity`` (the activity.h5
format), ``pipeline`` (a session's activity and metrics) and ``qc`` (the QC figure).
"""
