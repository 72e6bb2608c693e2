"""An example raw NWB recording: the synthetic volume written as a DANDI-style NWB file.

For trying the NWB route without downloading anything (and for the workflow tests): a session
``{source: nwb, path: example_nwb/synthetic_seed{seed}.nwb}`` under ``resources_dir`` gets this
file, made by the rule ``imaging_example_nwb`` from the ``imaging.synthetic`` settings. The movie is
one 4-D ``TwoPhotonSeries`` (volumes, x, y, z) at the volume rate, chunked one plane and at most
64 volumes at a time (a plane reads without touching the others), with its device, optical
channel, imaging plane and subject (NCBI's "synthetic construct"). The same seed gives the same
movie as the synthetic session of that seed.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np

from neurocircuit.imaging.activity_nwb import SYNTHETIC_CONSTRUCT, write_nwbfile
from neurocircuit.imaging.synthetic import SyntheticVolumeSpec, simulate_volume


def write_movie_nwb(
    path: str | Path, movie: np.ndarray, volume_rate_hz: float, description: str
) -> None:
    """Write a (volumes, planes, Y, X) movie as one 4-D TwoPhotonSeries (volumes, x, y, z)."""
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from pynwb import NWBFile
    from pynwb.file import Subject
    from pynwb.ophys import OpticalChannel, TwoPhotonSeries

    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    nwbfile = NWBFile(
        session_description=description,
        identifier=f"neurocircuit-example-{now:%Y%m%dT%H%M%S}",
        session_start_time=now,
        subject=Subject(
            subject_id="synthetic",
            species=SYNTHETIC_CONSTRUCT,
            sex="U",
            date_of_birth=now,
            description="no animal: a simulated volumetric recording",
        ),
    )
    device = nwbfile.create_device(name="Microscope", description="simulated microscope")
    plane = nwbfile.create_imaging_plane(
        name="ImagingPlane",
        optical_channel=OpticalChannel(
            name="OpticalChannel", description="green (simulated)", emission_lambda=510.0
        ),
        imaging_rate=float(volume_rate_hz),
        description=f"{movie.shape[1]} planes; the series' z axis",
        device=device,
        excitation_lambda=920.0,
        indicator="GCaMP-like indicator (simulated)",
        location="simulated volume",
    )
    data = np.ascontiguousarray(movie.transpose(0, 3, 2, 1))
    chunks = (min(64, data.shape[0]), data.shape[1], data.shape[2], 1)
    series = TwoPhotonSeries(
        name="TwoPhotonSeries",
        description="raw detector counts, volumes × x × y × z",
        data=H5DataIO(data, compression="gzip", chunks=chunks),
        imaging_plane=plane,
        rate=float(volume_rate_hz),
        unit="n.a.",
    )
    nwbfile.add_acquisition(series)
    write_nwbfile(nwbfile, path)


def write_example_nwb(path: str | Path, params: dict, seed: int = 0, logger=None) -> None:
    """Simulate the synthetic volume of ``params`` and ``seed``; write it to ``path`` (NWB)."""
    spec = SyntheticVolumeSpec.from_dict(params)
    recording = simulate_volume(spec, seed=seed)
    write_movie_nwb(
        path,
        recording.movie,
        spec.volume_rate_hz,
        f"Example raw recording: neurocircuit's synthetic volume, seed {seed}",
    )
    if logger:
        logger.info("wrote %s: movie %s", path, recording.movie.shape)
