# Rules of the resilience stage (params: neurocircuit/workflow/resilience.py): the paper's
# protocol (docs/ablation.md#resilience-the-papers-protocol). Every in-sample fit (and the teacher
# of a synthetic session) loses its recurrent connections smallest |w| first and at random,
# nothing refitted, with and without the mean-drive control -> curves and truncated areas ->
# intact-pVar filter, primary contrasts (Welch, Holm over them only), exploratory estimates ->
# the paper-style figure per measure. Runs with `snakemake resilience`, or with every target
# when resilience.enabled is true.
from neurocircuit.workflow import resilience


localrules:
    resilience,
    resilience_summary,
    resilience_figure,


rule resilience:
    input:
        targets.resilience_targets(config),


rule resilience_curves:
    input:
        model="results/fit/{dataset}/{model}/seed{seed}/model.pt",
        prediction="results/fit/{dataset}/{model}/seed{seed}/prediction.h5",
    output:
        curves="results/resilience/{dataset}/{model}/seed{seed}.csv",
        areas="results/resilience/{dataset}/{model}/seed{seed}_areas.csv",
    log:
        "results/logs/resilience_curves/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/resilience_curves/{dataset}/{model}/seed{seed}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        labels=resilience.run_labels,
        resilience_settings=resilience.curve_settings(config),
    script:
        "../scripts/resilience_curves.py"


# The teacher of a synthetic session is ablated like the fitted networks (model "teacher").
ruleorder: resilience_teacher > resilience_curves


rule resilience_teacher:
    input:
        truth="results/imaging/{dataset}/raw/ground_truth.h5",
        activity="results/imaging/{dataset}/activity.h5",
    output:
        curves="results/resilience/{dataset}/teacher/seed0.csv",
        areas="results/resilience/{dataset}/teacher/seed0_areas.csv",
    log:
        "results/logs/resilience_teacher/{dataset}.log",
    benchmark:
        "results/benchmarks/resilience_teacher/{dataset}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        labels=resilience.teacher_labels,
        recording_settings=from_config(fit.recording_params),
        preprocessing_settings=from_config(fit.preprocessing_params),
        resilience_settings=resilience.curve_settings(config),
    script:
        "../scripts/resilience_teacher.py"


rule resilience_summary:
    input:
        curves=targets.resilience_tables(config),
        areas=targets.resilience_tables(config, "areas"),
    output:
        summary="results/resilience/summary.csv",
    log:
        "results/logs/resilience_summary/summary.log",
    benchmark:
        "results/benchmarks/resilience_summary/summary.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        summary_settings=from_config(resilience.summary_settings),
    script:
        "../scripts/resilience_summary.py"


rule resilience_figure:
    input:
        curves=from_config(resilience.dataset_tables, kind="curves"),
        areas=from_config(resilience.dataset_tables, kind="areas"),
        summary="results/resilience/summary.csv",
    output:
        png=report(
            "results/figures/resilience/{dataset}/{measure}.png",
            caption="../report/resilience.rst",
            category="Resilience",
            subcategory="{dataset}",
            labels={"figure": "{measure} measure"},
        ),
        pdf="results/figures/resilience/{dataset}/{measure}.pdf",
    log:
        "results/logs/resilience_figure/{dataset}/{measure}.log",
    benchmark:
        "results/benchmarks/resilience_figure/{dataset}/{measure}.tsv"
    wildcard_constraints:
        measure=r"[A-Za-z0-9_\-]+",
    conda:
        "../../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        measure=from_config(resilience.figure_measure),
        figure_settings=resilience.figure_settings(config),
        dpi=config["figures"]["dpi"],
        font_size=config["figures"]["font_size"],
    script:
        "../scripts/resilience_figure.py"
