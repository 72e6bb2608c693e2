"""Sparse products for binary spike inputs: the input projection ``inputs @ W^T`` and the
weight gradient ``X^T @ dense`` over the non-zero entries only (``embedding_bag``), the CPU
routes of the classifier's torch backend (``fast_lif``, whose docstring says when they pay).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

METHODS = ("auto", "dense", "sparse")
SPARSE_MAX_DENSITY = 0.1
"""Above this fraction of non-zero entries "auto" takes the dense product instead of the sparse."""

_INT_VIEW = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def _exclusive_cumsum(counts: torch.Tensor) -> torch.Tensor:
    offsets = torch.zeros_like(counts)
    torch.cumsum(counts[:-1], 0, out=offsets[1:])
    return offsets


def _nonzero_entries(matrix: torch.Tensor, max_density: float | None):
    """(rows, cols, values) of the non-zero entries of a 2-D tensor, in row-major order.

    ``values`` is None when every non-zero entry is 1 (binary spikes). Returns None when
    ``max_density`` is given and more than that fraction of the entries is non-zero.
    """
    if max_density is not None:
        # a look at about 512 rows first spares the full nonzero() scan when it would not pay
        sample = matrix[:: max(1, matrix.shape[0] // 512)]
        if int(torch.count_nonzero(sample)) > 1.5 * max_density * sample.numel():
            return None
    flat = matrix.contiguous().view(-1)
    int_dtype = _INT_VIEW.get(flat.element_size())
    # an integer view finds the non-zeros faster; it also finds -0.0, which then adds nothing
    index = (flat.view(int_dtype) if int_dtype is not None else flat).nonzero().squeeze(1)
    if max_density is not None and index.numel() > max_density * flat.numel():
        return None
    n_cols = matrix.shape[1]
    rows = torch.div(index, n_cols, rounding_mode="floor")
    cols = index - rows * n_cols
    values = flat.index_select(0, index)
    if bool((values == 1).all()):
        values = None
    return rows, cols, values


def _sum_rows_by_column(rows, cols, values, dense: torch.Tensor, n_cols: int) -> torch.Tensor:
    """X^T @ dense for the sparse X given by its entries (rows, cols, values): (n_cols, D)."""
    order = torch.argsort(cols, stable=True)
    offsets = _exclusive_cumsum(torch.bincount(cols, minlength=n_cols))
    return F.embedding_bag(
        rows.index_select(0, order),
        dense.contiguous(),
        offsets,
        mode="sum",
        per_sample_weights=None if values is None else values.index_select(0, order),
    )


def _sparse_transposed_product(
    matrix: torch.Tensor, dense: torch.Tensor, mode: str
) -> torch.Tensor | None:
    """matrix^T @ dense over the non-zero entries of ``matrix`` only; None when ``mode`` is
    "auto" and ``matrix`` is too dense for that to pay."""
    entries = _nonzero_entries(matrix, SPARSE_MAX_DENSITY if mode == "auto" else None)
    if entries is None:
        return None
    return _sum_rows_by_column(*entries, dense, matrix.shape[1]).t().contiguous()


class _SpikeProjection(torch.autograd.Function):
    """x @ W^T over the non-zero entries of x only (forward and weight gradient)."""

    @staticmethod
    def forward(ctx, rows, cols, values, n_rows, weight):
        offsets = _exclusive_cumsum(torch.bincount(rows, minlength=n_rows))
        out = F.embedding_bag(
            cols, weight.t().contiguous(), offsets, mode="sum", per_sample_weights=values
        )
        ctx.save_for_backward(rows, cols, values)
        ctx.n_inputs = weight.shape[1]
        return out

    @staticmethod
    def backward(ctx, grad_out):
        rows, cols, values = ctx.saved_tensors
        grad_weight_t = _sum_rows_by_column(rows, cols, values, grad_out, ctx.n_inputs)
        return None, None, None, None, grad_weight_t.t().contiguous()


def spike_input_projection(
    inputs: torch.Tensor, weight: torch.Tensor, method: str = "auto"
) -> torch.Tensor:
    """Input current ``inputs @ weight.T`` for sparse (typically binary spike) inputs.

    Args:
        inputs: (..., n_inputs) input, e.g. (T, B, 700) spikes; any values are allowed.
        weight: (N, n_inputs) input weights W_in (``nn.Linear`` layout), differentiable.
        method: "dense" (one matmul over all rows), "sparse" (sum of the weight columns of the
            non-zero inputs, ``embedding_bag``; the weight gradient likewise), or "auto":
            sparse on the CPU when at most 10 % of the inputs are non-zero, dense otherwise and
            always on CUDA (cuBLAS is faster there, and ``nonzero`` waits for the device).

    Returns:
        (..., N) current; the same numbers in every method to float rounding. A gradient with
        respect to ``inputs`` (when it requires one) always goes through the dense product.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if inputs.dim() < 1 or weight.dim() != 2 or inputs.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"inputs (..., n_inputs) and weight (N, n_inputs) disagree: shapes "
            f"{tuple(inputs.shape)} and {tuple(weight.shape)}"
        )
    inputs = inputs.to(weight.dtype)
    sparse = method == "sparse" or (method == "auto" and inputs.device.type == "cpu")
    if not sparse or inputs.requires_grad:
        return F.linear(inputs, weight)
    n_inputs = weight.shape[1]
    matrix = inputs.reshape(-1, n_inputs)
    entries = _nonzero_entries(matrix, SPARSE_MAX_DENSITY if method == "auto" else None)
    if entries is None:
        return F.linear(inputs, weight)
    out = _SpikeProjection.apply(*entries, matrix.shape[0], weight)
    return out.reshape(*inputs.shape[:-1], weight.shape[0])
