# Rules of the imaging stage (inputs and params: neurocircuit/workflow/imaging.py).
# movie sessions:  [simulate] -> split planes -> suite2p per plane (one job each) -> activity -> QC
# suite2p folders, traces files and processed NWB files go straight to activity -> QC.
# NWB files holding raw imaging are movie sessions; example_nwb/ holds a simulated one.


localrules:
    imaging,
    imaging_download_suite2p_example,
    imaging_example_nwb,


rule imaging:
    input:
        targets.imaging_targets(config),


rule imaging_simulate_volume:
    output:
        movie="results/imaging/{session}/raw/movie.tif",
        truth="results/imaging/{session}/raw/ground_truth.h5",
    log:
        "results/logs/imaging_simulate_volume/{session}.log",
    benchmark:
        "results/benchmarks/imaging_simulate_volume/{session}.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        synthetic_settings=imaging.synthetic_settings(config),
        session_seed=from_config(imaging.session_seed),
    script:
        "../scripts/imaging_simulate_volume.py"


rule imaging_example_nwb:
    output:
        nwb=imaging.example_nwb_pattern(config),
    log:
        "results/logs/imaging_example_nwb/synthetic_seed{seed}.log",
    benchmark:
        "results/benchmarks/imaging_example_nwb/synthetic_seed{seed}.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        synthetic_settings=imaging.synthetic_settings(config),
    script:
        "../scripts/imaging_example_nwb.py"


rule imaging_download_suite2p_example:
    output:
        folder=directory(imaging.resource_path(config, "suite2p_pynapple")),
    log:
        "results/logs/imaging_download_suite2p_example/suite2p_pynapple.log",
    benchmark:
        "results/benchmarks/imaging_download_suite2p_example/suite2p_pynapple.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/imaging_download_suite2p_example.py"


rule imaging_split_planes:
    input:
        movie=from_config(imaging.movie_path),
    output:
        planes=directory("results/imaging/{session}/planes"),
    log:
        "results/logs/imaging_split_planes/{session}.log",
    benchmark:
        "results/benchmarks/imaging_split_planes/{session}.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        movie_reading=from_config(imaging.movie_reading),
    script:
        "../scripts/imaging_split_planes.py"


rule imaging_suite2p_plane:
    input:
        planes="results/imaging/{session}/planes",
    output:
        F="results/imaging/{session}/suite2p/plane{plane}/F.npy",
        Fneu="results/imaging/{session}/suite2p/plane{plane}/Fneu.npy",
        iscell="results/imaging/{session}/suite2p/plane{plane}/iscell.npy",
        stat="results/imaging/{session}/suite2p/plane{plane}/stat.npy",
        ops="results/imaging/{session}/suite2p/plane{plane}/ops.npy",
    log:
        "results/logs/imaging_suite2p_plane/{session}_plane{plane}.log",
    benchmark:
        "results/benchmarks/imaging_suite2p_plane/{session}_plane{plane}.tsv"
    wildcard_constraints:
        plane=r"\d+",
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        suite2p_settings=imaging.suite2p_settings(config),
        device=config["device"],
    script:
        "../scripts/imaging_suite2p_plane.py"


rule imaging_activity:
    input:
        unpack(from_config(imaging.source_inputs)),
    output:
        activity="results/imaging/{session}/activity.h5",
        nwb="results/imaging/{session}/activity.nwb",
        metrics="results/imaging/{session}/metrics.json",
    log:
        "results/logs/imaging_activity/{session}.log",
    benchmark:
        "results/benchmarks/imaging_activity/{session}.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        session=from_config(imaging.session_params),
        imaging_settings=from_config(imaging.session_settings),
    script:
        "../scripts/imaging_activity.py"


rule imaging_qc_figure:
    input:
        unpack(from_config(imaging.qc_inputs)),
    output:
        png=report(
            "results/imaging/{session}/qc.png",
            caption="../report/imaging_qc.rst",
            category="Imaging",
            subcategory="{session}",
            labels={"figure": "imaging QC", "session": "{session}"},
        ),
        pdf="results/imaging/{session}/qc.pdf",
    log:
        "results/logs/imaging_qc_figure/{session}.log",
    benchmark:
        "results/benchmarks/imaging_qc_figure/{session}.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    script:
        "../scripts/imaging_qc_figure.py"
