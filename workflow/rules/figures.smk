# Rules of the figures stage (see workflow/rules/common.smk for helpers).
