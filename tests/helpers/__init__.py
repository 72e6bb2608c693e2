"""Helpers that only tests use: made-up result files (``examples``), SHD files (``shd``) and a
local HTTP file server for download tests (``file_server``)."""
