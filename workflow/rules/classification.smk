# Rules of the classification stage (see workflow/rules/common.smk for helpers).
