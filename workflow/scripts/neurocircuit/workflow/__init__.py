"""The workflow's stage logic as plain functions: which files each rule reads (input functions),
what each job's params hold, and every stage's targets.

Every function takes the validated config dict first and, where it resolves one job, the job's
wildcards (anything with attributes: Snakemake's ``Wildcards``, or a ``SimpleNamespace`` in
tests); none imports Snakemake. ``workflow/rules/common.smk`` binds them to the config
(:func:`neurocircuit.workflow.common.bind_config`) and the rule files call them.

- ``common``: the binding, sorted-key params (:func:`~neurocircuit.workflow.common.canonical`);
- ``targets``: the runs of every stage and the final outputs of the configured study;
- ``imaging``, ``classification``, ``fit``, ``ablation``, ``figures``: each stage's inputs,
  params and config checks.
"""
