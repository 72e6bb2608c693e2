# Rules of the figures stage (inputs: neurocircuit/workflow/figures.py). Every figure is a PNG
# (registered in the report) and a PDF, written by one function of neurocircuit.figures.
# `snakemake --cores all figures` rebuilds only the figures when the results are up to date.


rule figures:
    input:
        targets.figure_targets(config),


rule plot_classification_accuracy:
    input:
        summary="results/classification/summary.csv",
    output:
        png=report(
            "results/figures/classification/accuracy.png",
            caption="../report/classification_accuracy.rst",
            category="Classification",
            labels={"figure": "test accuracy vs published"},
        ),
        pdf="results/figures/classification/accuracy.pdf",
    log:
        "results/logs/plot_classification_accuracy/accuracy.log",
    benchmark:
        "results/benchmarks/plot_classification_accuracy/accuracy.tsv"
    conda:
        "../../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        dpi=config["figures"]["dpi"],
        font_size=config["figures"]["font_size"],
    script:
        "../scripts/plot_classification_accuracy.py"


rule plot_classification_learning_curves:
    input:
        histories=targets.run_files(config, "classification", "history.csv"),
    output:
        png=report(
            "results/figures/classification/learning_curves.png",
            caption="../report/classification_learning_curves.rst",
            category="Classification",
            labels={"figure": "learning curves"},
        ),
        pdf="results/figures/classification/learning_curves.pdf",
    log:
        "results/logs/plot_classification_learning_curves/learning_curves.log",
    benchmark:
        "results/benchmarks/plot_classification_learning_curves/learning_curves.tsv"
    conda:
        "../../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        dpi=config["figures"]["dpi"],
        font_size=config["figures"]["font_size"],
    script:
        "../scripts/plot_classification_learning_curves.py"


rule plot_fit_activity:
    input:
        prediction=from_config(figures.example_run_file, name="prediction.h5"),
    output:
        png=report(
            "results/figures/fit/{dataset}/activity_{model}.png",
            caption="../report/fit_activity.rst",
            category="Fitted activity",
            subcategory="{dataset}",
            labels={"figure": "recorded vs fitted", "model": "{model}"},
        ),
        pdf="results/figures/fit/{dataset}/activity_{model}.pdf",
    log:
        "results/logs/plot_fit_activity/{dataset}_{model}.log",
    benchmark:
        "results/benchmarks/plot_fit_activity/{dataset}_{model}.tsv"
    conda:
        "../../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        example_seed=figures.example_seed(config),
        example_neurons=config["figures"]["example_neurons"],
        dpi=config["figures"]["dpi"],
        font_size=config["figures"]["font_size"],
    script:
        "../scripts/plot_fit_activity.py"


rule plot_pvar_per_neuron:
    input:
        per_neuron=from_config(figures.fit_run_files, name="pvar_per_neuron.csv"),
        metrics=from_config(figures.fit_run_files, name="metrics.json"),
    output:
        png=report(
            "results/figures/fit/{dataset}/pvar_per_neuron.png",
            caption="../report/pvar_per_neuron.rst",
            category="Fitted activity",
            subcategory="{dataset}",
            labels={"figure": "pVar per neuron vs baselines", "model": "all"},
        ),
        pdf="results/figures/fit/{dataset}/pvar_per_neuron.pdf",
    log:
        "results/logs/plot_pvar_per_neuron/{dataset}.log",
    benchmark:
        "results/benchmarks/plot_pvar_per_neuron/{dataset}.tsv"
    conda:
        "../../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        dpi=config["figures"]["dpi"],
        font_size=config["figures"]["font_size"],
    script:
        "../scripts/plot_pvar_per_neuron.py"


rule plot_connectivity:
    input:
        weights=from_config(figures.example_runs_files, name="weights.npz"),
    output:
        png=report(
            "results/figures/fit/{dataset}/connectivity.png",
            caption="../report/connectivity.rst",
            category="Fitted activity",
            subcategory="{dataset}",
            labels={"figure": "connectivity (E/I)", "model": "all"},
        ),
        pdf="results/figures/fit/{dataset}/connectivity.pdf",
    log:
        "results/logs/plot_connectivity/{dataset}.log",
    benchmark:
        "results/benchmarks/plot_connectivity/{dataset}.tsv"
    conda:
        "../../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        example_seed=figures.example_seed(config),
        dpi=config["figures"]["dpi"],
        font_size=config["figures"]["font_size"],
    script:
        "../scripts/plot_connectivity.py"


rule plot_convergence:
    input:
        histories=from_config(figures.fit_run_files, name="history.csv"),
        convergence="results/fit/convergence.csv",
    output:
        png=report(
            "results/figures/fit/{dataset}/convergence.png",
            caption="../report/convergence.rst",
            category="Fitted activity",
            subcategory="{dataset}",
            labels={"figure": "convergence across seeds", "model": "all"},
        ),
        pdf="results/figures/fit/{dataset}/convergence.pdf",
    log:
        "results/logs/plot_convergence/{dataset}.log",
    benchmark:
        "results/benchmarks/plot_convergence/{dataset}.tsv"
    conda:
        "../../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        dpi=config["figures"]["dpi"],
        font_size=config["figures"]["font_size"],
    script:
        "../scripts/plot_convergence.py"


rule plot_forecast:
    input:
        tables=targets.forecast_tables(config),
    output:
        png=report(
            "results/figures/fit/forecast.png",
            caption="../report/fit_forecast.rst",
            category="Fitted activity",
            labels={"figure": "forecast error by horizon", "model": "all"},
        ),
        pdf="results/figures/fit/forecast.pdf",
    log:
        "results/logs/plot_forecast/forecast.log",
    benchmark:
        "results/benchmarks/plot_forecast/forecast.tsv"
    conda:
        "../../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        dpi=config["figures"]["dpi"],
        font_size=config["figures"]["font_size"],
    script:
        "../scripts/plot_forecast.py"


rule plot_ablation_curves:
    input:
        curves=from_config(figures.ablation_curve_files),
    output:
        png=report(
            "results/figures/ablation/{dataset}/curves.png",
            caption="../report/ablation_curves.rst",
            category="Ablation",
            subcategory="{dataset}",
            labels={"figure": "pVar ratio vs fraction removed"},
        ),
        pdf="results/figures/ablation/{dataset}/curves.pdf",
    log:
        "results/logs/plot_ablation_curves/{dataset}.log",
    benchmark:
        "results/benchmarks/plot_ablation_curves/{dataset}.tsv"
    conda:
        "../../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        dpi=config["figures"]["dpi"],
        font_size=config["figures"]["font_size"],
    script:
        "../scripts/plot_ablation_curves.py"


rule plot_ablation_areas:
    input:
        summary="results/ablation/summary.csv",
    output:
        png=report(
            "results/figures/ablation/{dataset}/areas.png",
            caption="../report/ablation_areas.rst",
            category="Ablation",
            subcategory="{dataset}",
            labels={"figure": "areas under the curves, Welch tests"},
        ),
        pdf="results/figures/ablation/{dataset}/areas.pdf",
    log:
        "results/logs/plot_ablation_areas/{dataset}.log",
    benchmark:
        "results/benchmarks/plot_ablation_areas/{dataset}.tsv"
    conda:
        "../../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        dpi=config["figures"]["dpi"],
        font_size=config["figures"]["font_size"],
    script:
        "../scripts/plot_ablation_areas.py"
