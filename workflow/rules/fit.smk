# Rules of the fit stage (see workflow/rules/common.smk for helpers).
# activity (zebrafish recording or an imaging session) -> in-sample fit + held-out fit per
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
        fit_targets(),


rule fit_download_zebrafish:
    output:
        recording=zebrafish_download_path(),
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
        url=FIT["zebrafish"]["url"],
        sha256=FIT["zebrafish"]["sha256"],
        data_dir=config["data_dir"],
    script:
        "../scripts/fit_download_zebrafish.py"


rule fit_check_activity:
    input:
        activity=fit_activity_input,
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
        recording=fit_recording_params,
    script:
        "../scripts/fit_check_activity.py"


rule fit_activity:
    input:
        unpack(fit_truth_input),
        activity=fit_activity_input,
        check="results/fit/{dataset}/activity_check.json",
    output:
        model="results/fit/{dataset}/{model}/seed{seed}/model.pt",
        prediction="results/fit/{dataset}/{model}/seed{seed}/prediction.h5",
        history="results/fit/{dataset}/{model}/seed{seed}/history.csv",
        per_neuron="results/fit/{dataset}/{model}/seed{seed}/pvar_per_neuron.csv",
        weights="results/fit/{dataset}/{model}/seed{seed}/weights.npz",
        scores="results/fit/{dataset}/{model}/seed{seed}/scores.json",
    log:
        "results/logs/fit_activity/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/fit_activity/{dataset}/{model}/seed{seed}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=240,
        gpu=1,
    params:
        run=fit_run_params,
    script:
        "../scripts/fit_activity.py"


rule fit_heldout:
    input:
        unpack(fit_truth_input),
        activity=fit_activity_input,
        check="results/fit/{dataset}/activity_check.json",
    output:
        model="results/fit/{dataset}/{model}/seed{seed}/heldout/model.pt",
        prediction="results/fit/{dataset}/{model}/seed{seed}/heldout/prediction.h5",
        history="results/fit/{dataset}/{model}/seed{seed}/heldout/history.csv",
        scores="results/fit/{dataset}/{model}/seed{seed}/heldout/scores.json",
    log:
        "results/logs/fit_heldout/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/fit_heldout/{dataset}/{model}/seed{seed}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=240,
        gpu=1,
    params:
        run=fit_run_params,
    script:
        "../scripts/fit_heldout.py"


# Windowed forecasts of the held-out block by the held-out model (never refitted) and the
# naive baselines on the same windows (docs/fit.md#windowed-forecasts).
rule fit_forecast:
    input:
        model="results/fit/{dataset}/{model}/seed{seed}/heldout/model.pt",
        activity=fit_activity_input,
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
        run=fit_forecast_params,
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
        run=fit_forecast_params,
    script:
        "../scripts/fit_forecast_teacher.py"


rule fit_forecast_summary:
    input:
        tables=forecast_tables(),
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
        metrics=run_files("fit", "metrics.json"),
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
