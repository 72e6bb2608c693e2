# Rules of the ablation stage (params: neurocircuit/workflow/ablation.py).
# fitted network -> pVar after removing a growing fraction of connections (orders ranked within
# each sign class, global and single-class controls) -> summary: area under each curve, Welch's
# t-tests between models that differ in one factor (seeds as replicates, Holm-corrected).


localrules:
    ablation,
    ablation_summary,


rule ablation:
    input:
        targets.ablation_tables(config),
        "results/ablation/summary.csv",


rule ablation_curves:
    input:
        model="results/fit/{dataset}/{model}/seed{seed}/model.pt",
        prediction="results/fit/{dataset}/{model}/seed{seed}/prediction.h5",
    output:
        curves="results/ablation/{dataset}/{model}/seed{seed}.csv",
    log:
        "results/logs/ablation_curves/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/ablation_curves/{dataset}/{model}/seed{seed}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        ablation_settings=ablation.ablation_settings(config),
    script:
        "../scripts/ablation_curves.py"


# The teacher of a synthetic session is ablated like the fitted networks (model "teacher").
ruleorder: ablation_teacher > ablation_curves


rule ablation_teacher:
    input:
        truth="results/imaging/{dataset}/raw/ground_truth.h5",
        activity="results/imaging/{dataset}/activity.h5",
    output:
        curves="results/ablation/{dataset}/teacher/seed0.csv",
    log:
        "results/logs/ablation_teacher/{dataset}.log",
    benchmark:
        "results/benchmarks/ablation_teacher/{dataset}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        recording_settings=from_config(fit.recording_params),
        preprocessing_settings=from_config(fit.preprocessing_params),
        ablation_settings=ablation.ablation_settings(config),
    script:
        "../scripts/ablation_teacher.py"


rule ablation_summary:
    input:
        curves=targets.ablation_tables(config),
    output:
        summary="results/ablation/summary.csv",
    log:
        "results/logs/ablation_summary/summary.log",
    benchmark:
        "results/benchmarks/ablation_summary/summary.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        ablation_runs=ablation.summary_runs(config),
    script:
        "../scripts/ablation_summary.py"
