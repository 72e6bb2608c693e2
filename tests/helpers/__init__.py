"""Helpers that only tests use: made-up result files (``examples``), SHD files (``shd``), a
local HTTP file server for download tests (``file_server``), e-prop against autograd
(``eprop``) and networks made ready for gradient checks (``networks``)."""
