# Rules of the fit stage (inputs and params: neurocircuit/workflow/fit.py).
# activity (zebrafish recording or an imaging session) -> in-sample and held-out fits per
# (dataset, model, seed) -> windowed forecasts of the held-out model -> metrics.json ->
# convergence and forecast tables over seeds.


localrules:
    fit,
    fit_download_zebrafish,
    fit_check_activity,
    fit_metrics,
    fit_convergence,
    fit_forecast_summary,


rule fit:
    input:
        targets.fit_targets(config),


rule fit_download_zebrafish:
    output:
        recording=fit.zebrafish_download_path(config),
    log:
        "results/logs/fit_download_zebrafish/zebrafish.log",
    benchmark:
        "results/benchmarks/fit_download_zebrafish/zebrafish.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        url=config["fit"]["zebrafish"]["url"],
        sha256=config["fit"]["zebrafish"]["sha256"],
        data_dir=config["data_dir"],
    script:
        "../scripts/fit_download_zebrafish.py"


rule fit_check_activity:
    input:
        activity=from_config(fit.activity_input),
    output:
        check="results/fit/{dataset}/activity_check.json",
    log:
        "results/logs/fit_check_activity/{dataset}.log",
    benchmark:
        "results/benchmarks/fit_check_activity/{dataset}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        recording_settings=from_config(fit.recording_params),
    script:
        "../scripts/fit_check_activity.py"


# One rule, two splits (the split wildcard, neurocircuit/workflow/fit.py): the in-sample fit
# trains on the whole recording (files in seed{seed}/), the held-out fit on its first frames
# (files in seed{seed}/heldout/).
rule fit_activity:
    input:
        unpack(from_config(fit.truth_input)),
        activity=from_config(fit.activity_input),
        check="results/fit/{dataset}/activity_check.json",
    output:
        model="results/fit/{dataset}/{model}/seed{seed}{split}/model.pt",
        prediction="results/fit/{dataset}/{model}/seed{seed}{split}/prediction.h5",
        history="results/fit/{dataset}/{model}/seed{seed}{split}/history.csv",
        per_neuron="results/fit/{dataset}/{model}/seed{seed}{split}/pvar_per_neuron.csv",
        weights="results/fit/{dataset}/{model}/seed{seed}{split}/weights.npz",
        scores="results/fit/{dataset}/{model}/seed{seed}{split}/scores.json",
    log:
        "results/logs/fit_activity/{dataset}/{model}/seed{seed}{split}.log",
    benchmark:
        "results/benchmarks/fit_activity/{dataset}/{model}/seed{seed}{split}.tsv"
    wildcard_constraints:
        split=fit.SPLIT_WILDCARD,
    conda:
        "../../envs/torch.yaml"
    threads: from_config(training_resources.training_threads, gpu_threads=2)
    resources:
        mem_mb=4000,
        runtime=240,
        gpu=from_config(training_resources.training_gpus),
    params:
        split=fit.split_name,
        dataset="{dataset}",
        model="{model}",
        seed=fit.run_seed,
        device=config["device"],
        fit_settings=from_config(fit.fit_settings),
    script:
        "../scripts/fit_activity.py"


# Windowed forecasts of the held-out block by the held-out model (never refitted) and the
# naive baselines on the same windows (docs/fit.md#windowed-forecasts).
rule fit_forecast:
    input:
        model="results/fit/{dataset}/{model}/seed{seed}/heldout/model.pt",
        activity=from_config(fit.activity_input),
        check="results/fit/{dataset}/activity_check.json",
    output:
        table="results/fit/{dataset}/{model}/seed{seed}/forecast.csv",
        scores="results/fit/{dataset}/{model}/seed{seed}/forecast.json",
    log:
        "results/logs/fit_forecast/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/fit_forecast/{dataset}/{model}/seed{seed}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        dataset="{dataset}",
        model="{model}",
        seed=fit.run_seed,
        split_settings=from_config(fit.forecast_split),
        forecast_settings=fit.forecast_settings(config),
    script:
        "../scripts/fit_forecast.py"


# The teacher of a synthetic session forecasts the same windows: the ceiling.
rule fit_forecast_teacher:
    input:
        truth="results/imaging/{dataset}/raw/ground_truth.h5",
        activity="results/imaging/{dataset}/activity.h5",
        check="results/fit/{dataset}/activity_check.json",
    output:
        table="results/fit/{dataset}/teacher/forecast.csv",
        scores="results/fit/{dataset}/teacher/forecast.json",
    log:
        "results/logs/fit_forecast_teacher/{dataset}.log",
    benchmark:
        "results/benchmarks/fit_forecast_teacher/{dataset}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        dataset="{dataset}",
        model=fit.TEACHER_MODEL,
        seed=0,
        split_settings=from_config(fit.forecast_split),
        forecast_settings=fit.forecast_settings(config),
    script:
        "../scripts/fit_forecast_teacher.py"


rule fit_forecast_summary:
    input:
        tables=targets.forecast_tables(config),
    output:
        summary="results/fit/forecast_summary.csv",
    log:
        "results/logs/fit_forecast_summary/forecast_summary.log",
    benchmark:
        "results/benchmarks/fit_forecast_summary/forecast_summary.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/fit_forecast_summary.py"


rule fit_metrics:
    input:
        scores="results/fit/{dataset}/{model}/seed{seed}/scores.json",
        heldout="results/fit/{dataset}/{model}/seed{seed}/heldout/scores.json",
        forecast="results/fit/{dataset}/{model}/seed{seed}/forecast.json",
    output:
        metrics="results/fit/{dataset}/{model}/seed{seed}/metrics.json",
    log:
        "results/logs/fit_metrics/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/fit_metrics/{dataset}/{model}/seed{seed}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../scripts/fit_metrics.py"


rule fit_convergence:
    input:
        metrics=targets.run_files(config, "fit", "metrics.json"),
    output:
        table="results/fit/convergence.csv",
    log:
        "results/logs/fit_convergence/convergence.log",
    benchmark:
        "results/benchmarks/fit_convergence/convergence.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/fit_convergence.py"
