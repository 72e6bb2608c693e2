import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))

from neurocircuit.config import ConfigError, validate_config  # noqa: E402

try:
    config.update(
        validate_config(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
    )
except ConfigError as error:
    sys.exit(f"Config error: {error}")

if config["data_dir"] and not Path(config["data_dir"]).is_dir():
    # not an error: the data sets it should hold may be found elsewhere or downloaded
    print(
        f"Warning: data_dir '{config['data_dir']}' is not a folder; data sets not found in "
        f"the system folders are downloaded into resources_dir ('{config['resources_dir']}')",
        file=sys.stderr,
    )


wildcard_constraints:
    session=r"[A-Za-z0-9_\-]+",
    dataset=r"[A-Za-z0-9_\-]+",
    model=r"[A-Za-z0-9_\-]+",
    seed=r"\d+",


# Under a cluster executor (profiles/slurm) these light rules run on the submitting machine, not
# as cluster jobs: plots. Each stage file declares its own downloads and summaries likewise.
localrules:
    imaging_qc_figure,
    plot_classification_accuracy,
    plot_classification_learning_curves,
    plot_fit_activity,
    plot_pvar_per_neuron,
    plot_connectivity,
    plot_convergence,
    plot_forecast,
    plot_ablation_curves,
    plot_ablation_areas,


def canonical(value):
    """``value`` with every mapping's keys sorted: Snakemake compares a job's params as
    written, so the same settings in another key order (an overlay config) must not rerun it."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


# ---------------------------------------------------------------- targets
def all_targets():
    """Every final output of the configured study."""
    return imaging_targets() + classification_targets() + fit_targets() + figure_targets()


# ---------------------------------------------------------------- runs of every stage
RUN_FOLDER = {
    "classification": "results/classification/{dataset}/{model}/seed{seed}",
    "fit": "results/fit/{dataset}/{model}/seed{seed}",
}
ABLATION_TABLE = "results/ablation/{dataset}/{model}/seed{seed}.csv"


def stage_runs(stage, dataset=None, seed=None):
    """Every configured run of ``stage`` ("classification" or "fit") as a dict of its
    wildcards (dataset, model, seed), optionally only one data set's or one seed's."""
    section = config[stage]
    return [
        {"dataset": d, "model": m, "seed": s}
        for d in section["datasets"]
        if dataset in (None, d)
        for m in section["models"]
        for s in section["seeds"]
        if seed in (None, s)
    ]


def run_files(stage, name, dataset=None, seed=None):
    """File ``name`` (metrics.json, history.csv, ...) of each run :func:`stage_runs` lists."""
    template = f"{RUN_FOLDER[stage]}/{name}"
    return [template.format(**run) for run in stage_runs(stage, dataset, seed)]


def teacher_runs(dataset=None):
    """The teacher of every fitted synthetic session made by one (imaging.synthetic.population
    "teacher"), as an ablation run of model "teacher" (seed 0: there is one teacher)."""
    if config["imaging"]["synthetic"].get("population") != "teacher":
        return []
    return [
        {"dataset": d, "model": "teacher", "seed": 0}
        for d in config["fit"]["datasets"]
        if dataset in (None, d)
        and d in IMAGING_SESSIONS
        and IMAGING_SESSIONS[d]["source"] == "synthetic"
    ]


def ablation_runs(dataset=None):
    """Every ablated network: each fit run, then each teacher (optionally of one data set)."""
    return stage_runs("fit", dataset) + teacher_runs(dataset)


def ablation_tables(dataset=None):
    """The ablation table of every ablated network (optionally of one data set)."""
    return [ABLATION_TABLE.format(**run) for run in ablation_runs(dataset)]


# Each stage file section below is owned by that stage; keep helpers here, not in rules.
# ---------------------------------------------------------------- imaging
import re  # noqa: E402

from neurocircuit.imaging.nwb_input import nwb_session_plan  # noqa: E402
from neurocircuit.imaging.sessions import (  # noqa: E402
    MOVIE_SOURCES,
    resolve_session_path,
    session_fs_hz,
    session_n_planes,
    session_table,
)

try:
    IMAGING_SESSIONS = session_table(config["imaging"])
except ValueError as error:
    sys.exit(f"Config error: {error}")


def imaging_targets():
    """activity.h5, activity.nwb, metrics.json and qc.png of every configured imaging session."""
    return expand(
        "results/imaging/{session}/{name}",
        session=list(IMAGING_SESSIONS),
        name=["activity.h5", "activity.nwb", "metrics.json", "qc.png"],
    )


def imaging_session(wildcards):
    """The config entry of the session named by the wildcard."""
    return IMAGING_SESSIONS[wildcards.session]


def imaging_session_params(wildcards):
    """The session's config entry, as a job's params (keys sorted)."""
    return canonical(imaging_session(wildcards))


def imaging_synthetic_params():
    """The synthetic recording's settings, as a job's params (keys sorted)."""
    return canonical(config["imaging"]["synthetic"])


def imaging_session_settings(wildcards):
    """What a session's activity job reads of the imaging section: everything but the session
    list, and the synthetic recording's settings only for synthetic sessions."""
    session = imaging_session(wildcards)
    skipped = {"sessions"} if session["source"] == "synthetic" else {"sessions", "synthetic"}
    return canonical({key: value for key, value in config["imaging"].items() if key not in skipped})


def imaging_suite2p_params():
    """suite2p settings of the per-plane rule, with the shared neuropil coefficient."""
    return canonical(
        {
            **config["imaging"]["suite2p"],
            "neuropil_coefficient": config["imaging"]["neuropil_coefficient"],
        }
    )


def imaging_session_seed(wildcards):
    return int(imaging_session(wildcards).get("seed", 0))


def imaging_user_path(session):
    """A session's file: relative paths under data_dir (resources_dir when null), except the
    workflow's own example NWB recording (rule imaging_example_nwb), always in resources_dir."""
    if re.fullmatch(r"example_nwb/synthetic_seed\d+\.nwb", session["path"]):
        return imaging_resource_path(session["path"])
    return resolve_session_path(session["path"], config["data_dir"], config["resources_dir"])


def imaging_resource_path(name):
    return str(Path(config["resources_dir"]) / name)


def imaging_example_nwb_pattern():
    """Output of the example NWB recording's rule (resources_dir/example_nwb/...)."""
    return imaging_resource_path("example_nwb/synthetic_seed{seed}.nwb")


_NWB_PLANS = {}


def imaging_nwb_plan(session):
    """How an NWB session is read (nwb_input.nwb_session_plan: raw or processed, planes); the
    file is opened once per run of Snakemake. The example recording, before its rule has made
    it, has the planes of imaging.synthetic."""
    key = (session["name"], imaging_user_path(session))
    if key not in _NWB_PLANS:
        example = re.escape(imaging_example_nwb_pattern()).replace(r"\{seed\}", r"\d+")
        if re.fullmatch(example, key[1]) and not Path(key[1]).exists():
            planes = session.get("n_planes", config["imaging"]["synthetic"]["n_planes"])
            return {"kind": "raw", "n_planes": planes}
        _NWB_PLANS[key] = nwb_session_plan(
            key[1], session.get("nwb_series"), session.get("n_planes")
        )
    return _NWB_PLANS[key]


def imaging_has_movie(session):
    """Whether a session runs the movie steps (split, suite2p per plane): synthetic, TIFF and
    HDF5 movies, and NWB files that hold raw imaging."""
    if session["source"] == "nwb":
        return imaging_nwb_plan(session)["kind"] == "raw"
    return session["source"] in MOVIE_SOURCES


def imaging_n_planes(session):
    """Planes of a movie session (an NWB file's own count)."""
    if session["source"] == "nwb":
        return imaging_nwb_plan(session)["n_planes"]
    return session_n_planes(session, config["imaging"])


def imaging_movie_path(wildcards):
    """The raw movie of a movie session (simulated for synthetic sessions)."""
    session = imaging_session(wildcards)
    if session["source"] == "synthetic":
        return f"results/imaging/{wildcards.session}/raw/movie.tif"
    if not imaging_has_movie(session):
        raise ValueError(f"session '{wildcards.session}' ({session['source']}) has no movie")
    return imaging_user_path(session)


def imaging_movie_params(wildcards):
    """How to read the session's movie: format, planes, HDF5 key or NWB series, rate, masking
    settings. An NWB session's planes and rate are what the config states (None: the file's)."""
    session = imaging_session(wildcards)
    masking = config["imaging"]["masking"]
    params = {
        "fmt": {"h5": "h5", "nwb": "nwb"}.get(session["source"], "tiff"),
        "n_planes": session_n_planes(session, config["imaging"]),
        "h5_key": session.get("h5_key", "data"),
        "volume_rate_hz": session_fs_hz(session, config["imaging"]),
        "saturation_value": masking["saturation_value"],
        "max_saturated_fraction": masking["max_saturated_fraction"],
        "max_masked_fraction": masking["max_masked_fraction"],
    }
    if session["source"] == "nwb":
        params["n_planes"] = session.get("n_planes")
        params["nwb_series"] = session.get("nwb_series")
    return params


def imaging_plane_F(wildcards):
    """F.npy of every plane folder the per-plane suite2p jobs write for a movie session."""
    session = imaging_session(wildcards)
    return expand(
        "results/imaging/{session}/suite2p/plane{plane}/F.npy",
        session=wildcards.session,
        plane=range(imaging_n_planes(session)),
    )


def imaging_source_inputs(wildcards):
    """Inputs shared by the activity and QC rules, named after the source."""
    session = imaging_session(wildcards)
    if imaging_has_movie(session):
        inputs = {
            "planes_dir": f"results/imaging/{wildcards.session}/planes",
            "plane_F": imaging_plane_F(wildcards),
        }
        if session["source"] == "synthetic":
            inputs["truth"] = f"results/imaging/{wildcards.session}/raw/ground_truth.h5"
        return inputs
    if session["source"] == "suite2p":
        return {"suite2p_folder": imaging_user_path(session)}
    if session["source"] == "nwb":
        return {"nwb": imaging_user_path(session)}
    return {"traces": imaging_user_path(session)}


def imaging_qc_inputs(wildcards):
    """Activity, metrics and the plane folders (or suite2p folder) of a session's QC figure."""
    inputs = {
        key: value
        for key, value in imaging_source_inputs(wildcards).items()
        if key in ("plane_F", "suite2p_folder")
    }
    inputs["activity"] = f"results/imaging/{wildcards.session}/activity.h5"
    inputs["metrics"] = f"results/imaging/{wildcards.session}/metrics.json"
    return inputs


# ---------------------------------------------------------------- classification
from neurocircuit.classification import (  # noqa: E402
    check_classification_config,
    resolve_run_settings,
)
from neurocircuit.data.registry import (  # noqa: E402
    DATASETS as CLASSIFICATION_DATASETS,
    describe_missing,
    download_paths,
    locate_files,
)

CLASSIFICATION = config["classification"]
try:
    check_classification_config(CLASSIFICATION)
except ValueError as error:
    sys.exit(f"Config error: {error}")


def classification_targets():
    """The summary table over every configured run (which needs every run's metrics)."""
    if not stage_runs("classification"):
        return []
    return ["results/classification/summary.csv"]


def classification_data_files(wildcards):
    """Named input files of a data set: an existing copy (data_dir, Debian's folder) or the
    download rule's outputs in resources_dir; {} for digits (inside scikit-learn)."""
    spec = CLASSIFICATION_DATASETS[wildcards.dataset]
    found = locate_files(spec, config["data_dir"])
    if found is not None:
        return {role: str(path) for role, path in found.items()}
    if not CLASSIFICATION["download"]:
        sys.exit(
            "Config error: "
            + describe_missing(spec, config["data_dir"], config["resources_dir"])
            + " (classification.download is false)"
        )
    downloads = download_paths(spec, config["resources_dir"])
    return {role: str(path) for role, path in downloads.items()}


def classification_run_params(wildcards):
    """Everything a training job needs besides its files: the resolved settings (defaults <
    data set < model), the shared validation / test split, the device and the model name."""
    return canonical(
        {
            "settings": resolve_run_settings(CLASSIFICATION, wildcards.dataset, wildcards.model),
            "validation_fraction": CLASSIFICATION["validation_fraction"],
            "split_seed": CLASSIFICATION["split_seed"],
            "digits_test_fraction": CLASSIFICATION["digits_test_fraction"],
            "device": config["device"],
            "model_name": wildcards.model,
        }
    )


def classification_download_pattern():
    """Output pattern of the data download job: resources_dir/{dataset}/{filename}."""
    return str(Path(config["resources_dir"]) / "{dataset}" / "{filename}")


def classification_download_names():
    """Regex of the published file names the download rule may produce."""
    names = [f.name for spec in CLASSIFICATION_DATASETS.values() for f in spec.files]
    return "|".join(name.replace(".", r"\.") for name in names)


def classification_train_runtime(wildcards):
    """SLURM runtime (minutes) of one training job: SHD's 200 epochs take longest."""
    return {"digits": 30, "mnist": 360, "fashion_mnist": 360}.get(wildcards.dataset, 1440)


# ---------------------------------------------------------------- fit and ablation
from neurocircuit.fit.settings import (  # noqa: E402
    recording_settings,
    resolve_fit_settings,
    split_settings,
)
from neurocircuit.models.names import TEACHER, parse_model_name  # noqa: E402

FIT = config["fit"]
ABLATION = config["ablation"]
for _dataset in FIT["datasets"]:
    if _dataset != "zebrafish" and _dataset not in IMAGING_SESSIONS:
        sys.exit(
            f"Config error: fit.datasets: '{_dataset}' is neither 'zebrafish' nor an imaging "
            f"session (sessions: {', '.join(IMAGING_SESSIONS) or 'none'})"
        )
for _model in FIT["models"]:
    try:  # the grammar is in the schema; this refuses FORCE on spiking and Dale networks
        parse_model_name(_model)
    except ValueError as error:
        sys.exit(f"Config error: fit.models: {error}")


def fit_targets():
    """Per-run metrics, the convergence table and, when enabled, the ablation summary."""
    if not stage_runs("fit"):
        return []
    targets = run_files("fit", "metrics.json") + ["results/fit/convergence.csv"]
    targets += ["results/fit/forecast_summary.csv"]
    if ABLATION["enabled"]:
        targets += ablation_tables() + ["results/ablation/summary.csv"]
    return targets


def zebrafish_download_path():
    """Output folder of the zebrafish download job: resources_dir/zebrafish/."""
    return str(Path(config["resources_dir"]) / "zebrafish" / FIT["zebrafish"]["filename"])


def fit_activity_input(wildcards):
    """The activity file of a dataset: the zebrafish recording (data_dir/zebrafish/ when it is
    there, else the download) or an imaging session's activity.h5."""
    if wildcards.dataset == "zebrafish":
        if config["data_dir"]:
            local = Path(config["data_dir"]) / "zebrafish" / FIT["zebrafish"]["filename"]
            if local.is_file():
                return str(local)
        return zebrafish_download_path()
    return f"results/imaging/{wildcards.dataset}/activity.h5"


def fit_truth_input(wildcards):
    """{"truth": the ground truth} of a synthetic session (scores against its circuit), else {}."""
    session = IMAGING_SESSIONS.get(wildcards.dataset)
    if session is None or session["source"] != "synthetic":
        return {}
    return {"truth": f"results/imaging/{wildcards.dataset}/raw/ground_truth.h5"}


def fit_run_params(wildcards):
    """What a fit job reads: its labels, the device and the run's resolved settings (defaults <
    dataset_settings < model_settings), so that changing one model's settings, or adding a
    seed, reruns no other job."""
    return canonical(
        {
            "dataset": wildcards.dataset,
            "model": wildcards.model,
            "seed": int(wildcards.seed),
            "device": config["device"],
            "settings": resolve_fit_settings(FIT, wildcards.dataset, wildcards.model),
        }
    )


def fit_recording_params(wildcards):
    """What the recording check reads: the data set's frame period and crop."""
    return canonical(recording_settings(resolve_fit_settings(FIT, wildcards.dataset)))


def fit_forecast_params(wildcards):
    """What a forecast job reads: its labels, how the held-out fit split and preprocessed the
    recording (no network or training settings: the held-out model file stands for them) and
    the forecast settings. The teacher's job (no model wildcard) reads the data set's split."""
    model = getattr(wildcards, "model", None)
    return canonical(
        {
            "dataset": wildcards.dataset,
            "model": model or TEACHER,
            "seed": int(getattr(wildcards, "seed", 0)),
            "split": split_settings(resolve_fit_settings(FIT, wildcards.dataset, model)),
            "forecast": FIT["forecast"],
        }
    )


def forecast_tables(dataset=None):
    """forecast.csv of every fit run, then of every teacher (optionally of one data set)."""
    teacher = "results/fit/{dataset}/teacher/forecast.csv"
    teachers = [teacher.format(**run) for run in teacher_runs(dataset)]
    return run_files("fit", "forecast.csv", dataset) + teachers


def fit_preprocessing_params(wildcards):
    """The data set's preprocessing preset (what the teacher's ablation scores against)."""
    return canonical(resolve_fit_settings(FIT, wildcards.dataset)["preprocessing"])


def ablation_params():
    """What an ablation job reads of the ablation section (not ``enabled``)."""
    return {key: ABLATION[key] for key in ("fractions", "strategies", "random_repeats", "seed")}


# ---------------------------------------------------------------- figures
def figure_example_seed():
    """The seed whose fit the one-run figures (activity, connectivity) show: the lowest."""
    return min(FIT["seeds"]) if FIT["seeds"] else 0


def figure_fit_run_files(name):
    """Input function: ``name`` of every configured fit run (all models, all seeds) of a dataset."""

    def files(wildcards):
        return run_files("fit", name, wildcards.dataset)

    return files


def figure_example_runs_file(name):
    """Input function: ``name`` of every model's fit at the example seed, for a dataset."""

    def files(wildcards):
        return run_files("fit", name, wildcards.dataset, figure_example_seed())

    return files


def figure_example_run_file(name):
    """Input function: ``name`` of one model's fit at the example seed."""

    def file(wildcards):
        run = {**wildcards, "seed": figure_example_seed()}
        return f"{RUN_FOLDER['fit']}/{name}".format(**run)

    return file


def figure_ablation_curve_files():
    """Input function: every ablation curve table of a dataset (all models, all seeds)."""

    def files(wildcards):
        return ablation_tables(wildcards.dataset)

    return files


def figure_targets():
    """Every figure (PNG and PDF) of the configured study: those of each stage that has targets."""
    figures = []
    if classification_targets():
        figures += expand(
            "results/figures/classification/{name}.{ext}",
            name=["accuracy", "learning_curves"],
            ext=["png", "pdf"],
        )
    if not fit_targets():
        return figures
    datasets, models = FIT["datasets"], FIT["models"]
    figures += expand(
        "results/figures/fit/{dataset}/activity_{model}.{ext}",
        dataset=datasets,
        model=models,
        ext=["png", "pdf"],
    )
    figures += expand(
        "results/figures/fit/{dataset}/{name}.{ext}",
        dataset=datasets,
        name=["pvar_per_neuron", "connectivity", "convergence"],
        ext=["png", "pdf"],
    )
    figures += expand("results/figures/fit/forecast.{ext}", ext=["png", "pdf"])
    if ABLATION["enabled"]:
        figures += expand(
            "results/figures/ablation/{dataset}/{name}.{ext}",
            dataset=datasets,
            name=["curves", "areas"],
            ext=["png", "pdf"],
        )
    return figures
