"""Gated DeltaNet: chunked (WY) form against the naive recurrence, bounded state, 2-D scans."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pixelwise.models.gated_delta import (
    DIRECTIONS,
    GatedDeltaLayer,
    ScanBlock2d,
    from_sequence,
    gated_delta_chunked,
    gated_delta_recurrent,
    to_sequence,
)


def _inputs(length: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shape = (2, 3, length)
    q = F.normalize(torch.randn(*shape, 8, generator=g, dtype=dtype), dim=-1)
    k = F.normalize(torch.randn(*shape, 8, generator=g, dtype=dtype), dim=-1)
    v = torch.randn(*shape, 5, generator=g, dtype=dtype)
    log_alpha = -0.3 * torch.rand(*shape, generator=g, dtype=dtype)
    beta = torch.rand(*shape, generator=g, dtype=dtype)
    state = torch.randn(2, 3, 8, 5, generator=g, dtype=dtype)
    return [t.requires_grad_(True) for t in (q, k, v, log_alpha, beta, state)]


@pytest.mark.parametrize(("length", "chunk"), [(50, 16), (64, 64), (130, 32)])
def test_chunked_form_matches_the_recurrence_forward_and_backward(length: int, chunk: int) -> None:
    inputs = _inputs(length)
    probe_o = torch.randn(2, 3, length, 5, dtype=torch.float64)
    probe_s = torch.randn(2, 3, 8, 5, dtype=torch.float64)
    results = []
    for function in (gated_delta_recurrent, lambda *a: gated_delta_chunked(*a, chunk_size=chunk)):
        out, state = function(*inputs)
        grads = torch.autograd.grad((out * probe_o).sum() + (state * probe_s).sum(), inputs)
        results.append((out, state, grads))
    (o1, s1, g1), (o2, s2, g2) = results
    o1, s1, o2, s2 = (t.detach() for t in (o1, s1, o2, s2))
    assert float((o1 - o2).abs().max()) <= 1e-5
    assert float((s1 - s2).abs().max()) <= 1e-5
    for a, b in zip(g1, g2, strict=True):
        assert float((a - b).abs().max()) <= 1e-5
    assert float((o1 - o2).abs().max()) < 1e-10  # in fact equal to float64 rounding


def test_half_precision_inputs_are_computed_in_float32() -> None:
    q, k, v, a, b, s = (t.detach() for t in _inputs(40, dtype=torch.float32))
    reference, _ = gated_delta_recurrent(q, k, v, a, b, s)
    out, state = gated_delta_chunked(*(t.bfloat16() for t in (q, k, v, a, b, s)))
    assert out.dtype == torch.bfloat16 and state.dtype == torch.bfloat16
    assert float((out.float() - reference).abs().max()) < 0.1


def test_state_stays_bounded_over_a_1080p_token_count() -> None:
    """32 400 tokens (a 1080p frame at stride 8), width 16: the state norm follows the bound
    ‖S_t‖₂ ≤ α_t ‖S_{t−1}‖₂ + β_t ‖v_t‖ that the gating implies, and it plateaus."""
    torch.manual_seed(0)
    layer = GatedDeltaLayer(dim=16, heads=2, head_dim=8)
    tokens = torch.randn(1, 32_400, 16) * 3.0
    norms, bound = [], torch.zeros(1, 2)
    state = None
    with torch.no_grad():
        for segment in tokens.split(1620, dim=1):
            _q, _k, v = layer.qkv(segment).chunk(3, dim=-1)
            v = layer.conv_v(v).reshape(1, -1, 2, 8).transpose(1, 2)
            log_alpha, beta = layer.gates(segment)
            for t in range(v.shape[2]):
                bound = log_alpha[:, :, t].exp() * bound + beta[:, :, t] * v[:, :, t].norm(dim=-1)
            _, state = layer(segment, state)
            norms.append(torch.linalg.matrix_norm(state, ord=2))
    norms_t = torch.stack(norms)
    assert bool(torch.isfinite(norms_t).all())
    assert bool((norms_t[-1] <= bound * (1 + 1e-4)).all())
    assert float(norms_t[10:].max()) <= 1.1 * float(norms_t[:10].max())


def test_scan_orders_round_trip_and_differ() -> None:
    grid = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    firsts = set()
    for direction in DIRECTIONS:
        sequence = to_sequence(grid, direction)
        assert sequence.shape == (2, 20, 3)
        assert torch.equal(from_sequence(sequence, direction, 4, 5), grid)
        firsts.add(tuple(sequence[0, :2, 0].tolist()))
    assert len(firsts) == 4


def test_scan_block_states_keep_their_shape_and_carry_information() -> None:
    torch.manual_seed(0)
    block = ScanBlock2d(dim=12, heads=2, head_dim=6)
    x = torch.randn(1, 12, 6, 7)
    out, states = block(x)
    assert states.shape == (4, 1, 2, 6, 6)
    again, states2 = block(x, states)
    assert states2.shape == states.shape
    assert float((again - out).abs().max()) > 1e-4  # the carried state changes the output
    zero, _ = block(x, torch.zeros_like(states))
    assert torch.allclose(zero, out, atol=1e-6)  # and a zero state is no state


def _fla_available() -> bool:
    if not torch.cuda.is_available():
        return False
    try:
        import fla  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _fla_available(), reason="needs CUDA and flash-linear-attention")
def test_flash_linear_attention_kernel_agrees_with_the_chunked_form() -> None:
    from pixelwise.models.gated_delta import gated_delta_rule

    inputs = [t.detach().float().cuda() for t in _inputs(256)]
    fast, fast_state = gated_delta_rule(*inputs)
    reference, reference_state = gated_delta_chunked(*inputs)
    assert float((fast - reference).abs().max()) < 1e-3
    assert float((fast_state - reference_state).abs().max()) < 1e-3
