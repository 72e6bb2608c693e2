# Rules of the ablation stage (see workflow/rules/common.smk for helpers).
