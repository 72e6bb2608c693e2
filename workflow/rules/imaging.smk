# Rules of the imaging stage (see workflow/rules/common.smk for helpers).
