"""Classification data sets and spike encoders.

Modules (import them directly; this package imports nothing heavy, so the workflow can read the
registry at parse time without loading torch):

- ``registry``: which files each data set has, their official URLs and checksums, and where the
  workflow looks for them (``data_dir``, Debian's folder, ``resources_dir``).
- ``download``: a data set's published files through the one downloader (neurocircuit.download),
  with the checksums the site publishes.
- ``idx``: MNIST / Fashion-MNIST idx files (gzipped or not).
- ``shd``: Spiking Heidelberg Digits HDF5 files and their binning into sparse tensors.
- ``digits``: scikit-learn's 8×8 handwritten digits (the embedded demo data set).
- ``encoders``: latency (time-to-first-spike), constant-current LIF and Poisson spike codes.
- ``batches``: seeded train/validation splits and the batch iterators the training loop reads.
"""
