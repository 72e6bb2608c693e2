# Rules of the classification stage (inputs and params: neurocircuit/workflow/classification.py).
# [download published files] -> train one spiking classifier per (dataset, model, seed) -> summary.
# The training job keeps checkpoint.pt beside metrics.json (not a declared output, so that a
# killed job, rerun with --rerun-incomplete, resumes from it instead of losing it).


localrules:
    classification,
    classification_download_data,
    classification_summarize,


rule classification:
    input:
        targets.classification_targets(config),


rule classification_download_data:
    output:
        file=classification.download_pattern(config),
    log:
        "results/logs/classification_download_data/{dataset}/{filename}.log",
    benchmark:
        "results/benchmarks/classification_download_data/{dataset}/{filename}.tsv"
    wildcard_constraints:
        filename=classification.download_names(),
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        data_dir=config["data_dir"],
    script:
        "../scripts/classification_download_data.py"


rule classification_train:
    input:
        unpack(from_config(classification.data_files)),
    output:
        metrics="results/classification/{dataset}/{model}/seed{seed}/metrics.json",
        history="results/classification/{dataset}/{model}/seed{seed}/history.csv",
    log:
        "results/logs/classification_train/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/classification_train/{dataset}/{model}/seed{seed}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: from_config(training_resources.training_threads, gpu_threads=4)
    resources:
        mem_mb=12000,
        runtime=classification.train_runtime,
        gpu=from_config(training_resources.training_gpus),
    params:
        classification_settings=from_config(classification.run_settings),
        validation_fraction=config["classification"]["validation_fraction"],
        split_seed=config["classification"]["split_seed"],
        digits_test_fraction=config["classification"]["digits_test_fraction"],
        device=config["device"],
    script:
        "../scripts/classification_train.py"


rule classification_summarize:
    input:
        metrics=targets.run_files(config, "classification", "metrics.json"),
    output:
        summary="results/classification/summary.csv",
    log:
        "results/logs/classification_summarize/summary.log",
    benchmark:
        "results/benchmarks/classification_summarize/summary.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/classification_summarize.py"
