# Rules of the fit stage (see workflow/rules/common.smk for helpers).
