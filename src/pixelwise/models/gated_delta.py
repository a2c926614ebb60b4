"""Gated DeltaNet (Yang, Kautz & Hatamizadeh, ICLR 2025) for 1-D sequences and 2-D images.

The gated delta rule keeps a matrix state per head and updates it, token by token, as

    S_t = α_t (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ,        o_t = S_tᵀ q_t,

with ``S`` stored ``(d_k, d_v)`` (the transpose of the paper's ``S_t = α_t (S_{t−1} −
β_t S_{t−1} k_t k_tᵀ) + β_t v_t k_tᵀ, o_t = S_t q_t``; the same maths). Keys and queries are
L2-normalised (with an eps), ``β_t = sigmoid(·) ∈ (0, 1)`` and ``α_t = exp(−e^{A} ·
softplus(· + b)) ∈ (0, 1)`` comes from a log-space decay. Because ``‖k_t‖ = 1`` and ``β_t ≤
1``, ``I − β_t k_t k_tᵀ`` has spectral norm at most 1, so ``‖S_t‖₂ ≤ α_t ‖S_{t−1}‖₂ + β_t ‖v_t‖``
and, with ``α_t ≤ α_max < 1``, ``‖S_t‖₂ ≤ max ‖v‖ / (1 − α_max)``: the state is bounded by the
gating itself, with no renormalisation.

Two implementations of the rule with one interface:

* :func:`gated_delta_recurrent`: the naive token-by-token loop, the reference;
* :func:`gated_delta_chunked`: the chunked parallel (WY) form. Within a chunk of ``C`` tokens
  the state corrections ``u_i = β_i (v_i − α_i S_{i−1}ᵀ k_i)`` solve one unit lower-triangular
  system, ``(I + A) U = diag(β) V − diag(β Γ) K S_0`` with ``A_ij = β_i (Γ_i/Γ_j) k_iᵀ k_j``
  for ``j < i`` and ``Γ`` the cumulative decay; outputs and the next chunk's state then
  follow from matrix products. Only the chunk-to-chunk recursion is sequential.

:func:`gated_delta_rule` picks flash-linear-attention's Triton kernel on CUDA when the
``fla`` package is installed (optional, never required) and the chunked form otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: The four scan orders of a 2-D map: raster rows, rows reversed, columns, columns reversed.
DIRECTIONS = ("row", "row_reversed", "column", "column_reversed")


def gated_delta_recurrent(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    log_alpha: Tensor,
    beta: Tensor,
    initial_state: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The gated delta rule, one token at a time (the reference implementation).

    Parameters
    ----------
    q, k : Tensor
        (B, H, L, d_k); ``k`` should be L2-normalised.
    v : Tensor
        (B, H, L, d_v).
    log_alpha : Tensor
        (B, H, L), ``log α_t ≤ 0``.
    beta : Tensor
        (B, H, L) in [0, 1].
    initial_state : Tensor, optional
        (B, H, d_k, d_v); zeros by default.

    Returns
    -------
    (Tensor, Tensor)
        Outputs (B, H, L, d_v) and the final state (B, H, d_k, d_v).

    Examples
    --------
    >>> q = k = F.normalize(torch.randn(1, 2, 5, 4), dim=-1)
    >>> v, log_alpha, beta = torch.randn(1, 2, 5, 3), -torch.rand(1, 2, 5), torch.rand(1, 2, 5)
    >>> o, s = gated_delta_recurrent(q, k, v, log_alpha, beta)
    >>> o.shape, s.shape
    (torch.Size([1, 2, 5, 3]), torch.Size([1, 2, 4, 3]))
    """
    batch, heads, length, d_k = k.shape
    state = (
        initial_state if initial_state is not None else k.new_zeros(batch, heads, d_k, v.shape[-1])
    )
    alpha = log_alpha.exp()
    outputs = []
    for t in range(length):
        k_t = k[:, :, t, :, None]  # (B, H, d_k, 1)
        b_t = beta[:, :, t, None, None]
        projected = k_t.transpose(-1, -2) @ state  # k_tᵀ S: (B, H, 1, d_v)
        state = (
            alpha[:, :, t, None, None] * (state - b_t * k_t @ projected)
            + b_t * k_t @ v[:, :, t, None, :]
        )
        outputs.append((q[:, :, t, None, :] @ state)[:, :, 0])
    return torch.stack(outputs, dim=2), state


def gated_delta_chunked(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    log_alpha: Tensor,
    beta: Tensor,
    initial_state: Tensor | None = None,
    *,
    chunk_size: int = 32,
) -> tuple[Tensor, Tensor]:
    """The gated delta rule in chunked WY form; same interface as :func:`gated_delta_recurrent`.

    Half-precision inputs are computed in float32. The sequence is padded to a multiple of
    ``chunk_size`` with tokens that leave the state unchanged (``α = 1``, ``β = 0``).

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> q = k = F.normalize(torch.randn(1, 1, 70, 4, generator=g, dtype=torch.float64), dim=-1)
    >>> v = torch.randn(1, 1, 70, 3, generator=g, dtype=torch.float64)
    >>> a, b = -torch.rand(1, 1, 70, dtype=torch.float64), torch.rand(1, 1, 70, dtype=torch.float64)
    >>> fast, naive = gated_delta_chunked(q, k, v, a, b), gated_delta_recurrent(q, k, v, a, b)
    >>> bool(torch.allclose(fast[0], naive[0])) and bool(torch.allclose(fast[1], naive[1]))
    True
    """
    dtype = q.dtype
    compute = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
    with torch.autocast(q.device.type, enabled=False):
        q, k, v, log_alpha, beta = (t.to(compute) for t in (q, k, v, log_alpha, beta))
        batch, heads, length, d_k = k.shape
        d_v = v.shape[-1]
        pad = (-length) % chunk_size
        if pad:
            q, k, v = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
            log_alpha, beta = F.pad(log_alpha, (0, pad)), F.pad(beta, (0, pad))
        chunks = (length + pad) // chunk_size
        shape = (batch, heads, chunks, chunk_size)
        q, k, v = (t.reshape(*shape, -1) for t in (q, k, v))
        beta = beta.reshape(shape)
        cumulative = log_alpha.reshape(shape).cumsum(-1)  # log Γ_i within each chunk
        causal = torch.ones(chunk_size, chunk_size, dtype=torch.bool, device=q.device).tril()
        exponent = cumulative[..., :, None] - cumulative[..., None, :]
        ratio = exponent.masked_fill(~causal, float("-inf")).exp()  # Γ_i / Γ_j for j ≤ i
        lower = (beta[..., :, None] * (k @ k.transpose(-1, -2)) * ratio).tril(-1)
        system = lower + torch.eye(chunk_size, dtype=compute, device=q.device)
        rhs = torch.cat([beta[..., None] * v, (beta * cumulative.exp())[..., None] * k], dim=-1)
        solved = torch.linalg.solve_triangular(system, rhs, upper=False, unitriangular=True)
        values, weights = solved[..., :d_v], solved[..., d_v:]
        scores = (q @ k.transpose(-1, -2)) * ratio
        carried_k = (k * (cumulative[..., -1:] - cumulative).exp()[..., None]).transpose(-1, -2)
        last = cumulative[..., -1].exp()[..., None, None]
        # With S the state entering a chunk, its outputs are P S + scores V and the next state
        # is M S + K V, where P = Γ q − scores W, M = Γ_C I − K W, K = carried keys (all
        # chunks at once); only the d_k x d_k recursion S ← M S + K V stays sequential.
        project = q * cumulative.exp()[..., None] - scores @ weights
        transition = last * torch.eye(d_k, dtype=compute, device=q.device) - carried_k @ weights
        inflow = carried_k @ values
        state = (
            initial_state.to(compute).reshape(batch * heads, d_k, d_v)
            if initial_state is not None
            else q.new_zeros(batch * heads, d_k, d_v)
        )
        transition = transition.reshape(-1, chunks, d_k, d_k).transpose(0, 1).contiguous()
        inflow = inflow.reshape(-1, chunks, d_k, d_v).transpose(0, 1).contiguous()
        entering = []
        for i in range(chunks):
            entering.append(state)
            state = torch.baddbmm(inflow[i], transition[i], state)
        states = torch.stack(entering, dim=1).reshape(batch, heads, chunks, d_k, d_v)
        out = project @ states + scores @ values
        state = state.reshape(batch, heads, d_k, d_v)
        out = out.reshape(batch, heads, -1, d_v)[:, :, :length]
    return out.to(dtype), state.to(dtype)


def _fla_kernel() -> Callable[..., Any] | None:  # pragma: no cover - CUDA + optional fla
    try:
        from fla.ops.gated_delta_rule import (  # type: ignore[import-not-found]
            chunk_gated_delta_rule,
        )
    except ImportError:
        return None
    return chunk_gated_delta_rule


def gated_delta_rule(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    log_alpha: Tensor,
    beta: Tensor,
    initial_state: Tensor | None = None,
    *,
    chunk_size: int = 32,
) -> tuple[Tensor, Tensor]:
    """The gated delta rule by the fastest available implementation (same interface).

    On CUDA with flash-linear-attention installed its Triton kernel runs (layout
    ``(B, L, H, d)``, unit scale, since queries are scaled by the caller); otherwise
    :func:`gated_delta_chunked`.
    """
    kernel = _fla_kernel() if q.is_cuda else None
    if kernel is None:
        return gated_delta_chunked(q, k, v, log_alpha, beta, initial_state, chunk_size=chunk_size)
    out, state = kernel(  # pragma: no cover - CUDA only
        *(t.transpose(1, 2) for t in (q, k, v, log_alpha, beta)),
        scale=1.0,
        initial_state=initial_state,
        output_final_state=True,
    )
    return out.transpose(1, 2), state  # pragma: no cover


class ShortConv(nn.Module):
    """Causal depthwise 1-D convolution over (B, L, C) followed by SiLU (the paper's short conv)."""

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel_size, groups=channels, bias=False)
        self.kernel_size = kernel_size

    def forward(self, x: Tensor) -> Tensor:
        padded = F.pad(x.transpose(1, 2), (self.kernel_size - 1, 0))
        return F.silu(self.conv(padded)).transpose(1, 2)


class GatedDeltaLayer(nn.Module):
    """One Gated DeltaNet token mixer over (B, L, D) sequences with an explicit state.

    q/k/v projections with short causal convolutions, L2-normalised q and k (eps 1e-6, q
    scaled by ``d_k^-1/2``), ``β = sigmoid``, ``α`` from a log-space decay, per-head RMSNorm
    of the outputs, an output gate ``SiLU(W_g x)`` and an output projection.
    """

    def __init__(self, dim: int, heads: int, head_dim: int, conv_size: int = 4) -> None:
        super().__init__()
        inner = heads * head_dim
        self.heads, self.head_dim = heads, head_dim
        self.qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.conv_q, self.conv_k, self.conv_v = (ShortConv(inner, conv_size) for _ in range(3))
        self.beta_proj = nn.Linear(dim, heads)
        self.decay_proj = nn.Linear(dim, heads)
        # Mamba-2 style initialisation: rates e^A in [1, 16], time steps in [1e-3, 0.1].
        self.log_rate = nn.Parameter(torch.log(torch.linspace(1.0, 16.0, heads)))
        steps = torch.exp(torch.linspace(math.log(1e-3), math.log(0.1), heads))
        self.step_bias = nn.Parameter(steps + torch.log(-torch.expm1(-steps)))  # softplus⁻¹
        self.gate = nn.Linear(dim, inner, bias=False)
        self.out_norm = nn.RMSNorm(head_dim, eps=1e-6)
        self.out = nn.Linear(inner, dim, bias=False)

    def gates(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(log α, β), each (B, H, L), for input (B, L, D)."""
        rate = self.log_rate.exp()
        log_alpha = -rate * F.softplus(self.decay_proj(x) + self.step_bias)
        return log_alpha.transpose(1, 2), torch.sigmoid(self.beta_proj(x)).transpose(1, 2)

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(B, L, D) and optional state (B, H, d_k, d_v) -> (B, L, D), final state."""
        batch, length, _ = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)

        def heads(t: Tensor) -> Tensor:
            return t.reshape(batch, length, self.heads, self.head_dim).transpose(1, 2)

        q = F.normalize(heads(self.conv_q(q)), dim=-1, eps=1e-6) * self.head_dim**-0.5
        k = F.normalize(heads(self.conv_k(k)), dim=-1, eps=1e-6)
        log_alpha, beta = self.gates(x)
        out, state = gated_delta_rule(q, k, heads(self.conv_v(v)), log_alpha, beta, state)
        out = self.out_norm(out.float()).transpose(1, 2).reshape(batch, length, -1)
        return self.out(out * F.silu(self.gate(x))), state


def to_sequence(x: Tensor, direction: str) -> Tensor:
    """(B, C, H, W) -> (B, L, C) in the scan order ``direction`` (one of :data:`DIRECTIONS`)."""
    if direction.startswith("column"):
        x = x.transpose(2, 3)
    sequence = x.flatten(2).transpose(1, 2)
    return sequence.flip(1) if direction.endswith("reversed") else sequence


def from_sequence(sequence: Tensor, direction: str, height: int, width: int) -> Tensor:
    """Inverse of :func:`to_sequence`: (B, L, C) -> (B, C, H, W)."""
    if direction.endswith("reversed"):
        sequence = sequence.flip(1)
    column = direction.startswith("column")
    grid = sequence.transpose(1, 2).reshape(
        sequence.shape[0], -1, *((width, height) if column else (height, width))
    )
    return grid.transpose(2, 3) if column else grid


class ScanBlock2d(nn.Module):
    """A 2-D Gated DeltaNet block: four directional scans, each LayerNorm-ed, fused by a learned
    softmax, then an MLP; both residual, pre-norm.

    States are one tensor (4, B, H, d_k, d_v): direction first, the same shape in and out.
    """

    def __init__(self, dim: int, heads: int, head_dim: int, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.scans = nn.ModuleList(GatedDeltaLayer(dim, heads, head_dim) for _ in DIRECTIONS)
        self.scan_norms = nn.ModuleList(nn.LayerNorm(dim) for _ in DIRECTIONS)
        self.fusion_logits = nn.Parameter(torch.zeros(len(DIRECTIONS)))
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)
        )

    def forward(self, x: Tensor, states: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(B, C, H, W), states (4, B, H, d_k, d_v) or None -> same shapes."""
        height, width = x.shape[-2:]
        normed = self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        weights = torch.softmax(self.fusion_logits, dim=0)
        fused = torch.zeros_like(x)
        finals = []
        for index, (direction, scan, norm) in enumerate(
            zip(DIRECTIONS, self.scans, self.scan_norms, strict=True)
        ):
            out, final = scan(
                to_sequence(normed, direction), None if states is None else states[index]
            )
            grid = from_sequence(norm(out), direction, height, width)
            fused = fused + weights[index] * grid
            finals.append(final)
        x = x + fused
        x = x + self.mlp(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return x, torch.stack(finals)
