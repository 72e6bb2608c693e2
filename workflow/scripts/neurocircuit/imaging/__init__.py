"""Imaging stage: raw volumetric calcium imaging (or suite2p output, traces, NWB) to ΔF/F.

Modules: ``synthetic`` (simulated volume with ground truth), ``sessions`` (the config's session
list), ``readers`` (movies, suite2p folders, traces; every bad input is one clear error),
``planes`` (split a movie into per-plane binaries, mask NaN/saturated frames), ``suite2p_plane``
(registration, detection and extraction of one plane with suite2p), ``merge`` (one neuron, one
row across planes), ``dff`` (neuropil correction, baseline, ΔF/F), ``evaluate`` (recall and
correlation against ground truth), ``activity`` (the activity.h5 format), ``activity_nwb`` (the
same as an NWB file), ``nwb_input`` and ``nwb_traces`` (raw and processed NWB recordings),
``nwb_example`` (the synthetic volume as a raw NWB file), ``pipeline`` (a session's activity and
metrics), ``qc`` (the QC figure) and ``download`` (the real suite2p example folder).
"""
