import pytest
import torch
from torch import nn

from lit_vision.nn.attention import KVCache, MultiHeadAttention, causal_mask, merge_masks

E, H, B, L, S = 32, 4, 3, 7, 9


def ported_from_torch(ref: nn.MultiheadAttention, kdim: int | None = None) -> MultiHeadAttention:
    """Our attention with the weights of a torch (batch_first) MultiheadAttention."""
    self_attention = kdim is None
    ours = MultiHeadAttention(ref.embed_dim, ref.num_heads, self_attention=self_attention, kdim=kdim, vdim=kdim)
    with torch.no_grad():
        if self_attention:
            ours.qkv.weight.copy_(ref.in_proj_weight)
        else:
            if ref._qkv_same_embed_dim:
                q_w, kv_w = ref.in_proj_weight.split([ref.embed_dim, 2 * ref.embed_dim])
            else:
                q_w, kv_w = ref.q_proj_weight, torch.cat([ref.k_proj_weight, ref.v_proj_weight])
            ours.q.weight.copy_(q_w)
            ours.kv.weight.copy_(kv_w)
        bias = ref.in_proj_bias
        if self_attention:
            ours.qkv.bias.copy_(bias)
        else:
            ours.q.bias.copy_(bias[: ref.embed_dim])
            ours.kv.bias.copy_(bias[ref.embed_dim :])
        ours.proj.load_state_dict(ref.out_proj.state_dict())
    return ours.eval()


def torch_mha(kdim: int | None = None) -> nn.MultiheadAttention:
    torch.manual_seed(0)
    ref = nn.MultiheadAttention(E, H, batch_first=True, kdim=kdim, vdim=kdim).eval()
    with torch.no_grad():  # non-zero biases so a wrong bias split shows
        ref.in_proj_bias.normal_()
        ref.out_proj.bias.normal_()
    return ref


def padding(batch: int, length: int) -> torch.Tensor:
    mask = torch.zeros(batch, length, dtype=torch.bool)
    mask[1, length - 3 :] = True
    mask[2, length - 1 :] = True
    return mask


def masks(kind: str, length: int, key_length: int) -> dict:
    g = torch.Generator().manual_seed(1)
    if kind == "none":
        return {}
    if kind == "padding":
        return {"key_padding_mask": padding(B, key_length)}
    if kind == "float_padding":
        return {"key_padding_mask": torch.randn(B, key_length, generator=g)}
    if kind == "causal":
        return {"attn_mask": causal_mask(length, key_length=key_length)}
    if kind == "float":
        return {"attn_mask": torch.randn(length, key_length, generator=g)}
    if kind == "per_head":
        return {"attn_mask": torch.rand(B * H, length, key_length, generator=g) < 0.3}
    if kind == "padding_and_causal":
        return {"key_padding_mask": padding(B, key_length), "attn_mask": causal_mask(length, key_length=key_length)}
    if kind == "bool_padding_float_mask":
        return {"key_padding_mask": padding(B, key_length), "attn_mask": torch.randn(length, key_length, generator=g)}
    raise AssertionError(kind)


MASK_KINDS = [
    "none",
    "padding",
    "float_padding",
    "causal",
    "float",
    "per_head",
    "padding_and_causal",
    "bool_padding_float_mask",
]


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@pytest.mark.parametrize("kind", MASK_KINDS)
def test_self_attention_equals_torch(kind):
    ref = torch_mha()
    ours = ported_from_torch(ref)
    x = torch.randn(B, L, E)
    kwargs = masks(kind, L, L)
    expected, expected_w = ref(x, x, x, **kwargs, average_attn_weights=False)
    assert (ours(x, **kwargs) - expected).abs().max() <= 1e-5
    out, weights = ours(x, **kwargs, need_weights=True)
    assert (out - expected).abs().max() <= 1e-5
    assert (weights - expected_w).abs().max() <= 1e-5


def test_is_causal_equals_causal_mask():
    ref = torch_mha()
    ours = ported_from_torch(ref)
    x = torch.randn(B, L, E)
    expected = ref(x, x, x, attn_mask=causal_mask(L))[0]
    assert (ours(x, is_causal=True) - expected).abs().max() <= 1e-5
    assert (ours(x, is_causal=True, need_weights=True)[0] - expected).abs().max() <= 1e-5
    pad = padding(B, L)
    expected = ref(x, x, x, attn_mask=causal_mask(L), key_padding_mask=pad)[0]
    assert (ours(x, is_causal=True, key_padding_mask=pad) - expected).abs().max() <= 1e-5


def test_self_attention_module_with_distinct_query_key_value_equals_torch():
    ref = torch_mha()
    ours = ported_from_torch(ref)
    q, k, v = torch.randn(B, L, E), torch.randn(B, S, E), torch.randn(B, S, E)
    pad = padding(B, S)
    expected = ref(q, k, v, key_padding_mask=pad)[0]
    assert (ours(q, k, v, key_padding_mask=pad) - expected).abs().max() <= 1e-5


@pytest.mark.parametrize("kdim", [E, 20])
@pytest.mark.parametrize("kind", ["none", "padding", "float", "padding_and_causal"])
def test_cross_attention_equals_torch(kdim, kind):
    ref = torch_mha(kdim=None if kdim == E else kdim)
    ours = ported_from_torch(ref, kdim=kdim)
    q, memory = torch.randn(B, L, E), torch.randn(B, S, kdim)
    kwargs = masks(kind, L, S)
    expected = ref(q, memory, memory, **kwargs)[0]
    assert (ours(q, memory, **kwargs) - expected).abs().max() <= 1e-5
    value = torch.randn(B, S, kdim)
    expected = ref(q, memory, value, **kwargs)[0]
    assert (ours(q, memory, value, **kwargs) - expected).abs().max() <= 1e-5


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_fused_path_equals_explicit_path(kind):
    torch.manual_seed(0)
    ours = MultiHeadAttention(E, H).eval()
    x = torch.randn(B, L, E)
    kwargs = masks(kind, L, L)
    assert (ours(x, **kwargs) - ours(x, **kwargs, need_weights=True)[0]).abs().max() <= 1e-5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("need_weights", [False, True])
def test_fully_masked_rows_are_finite_zeros(dtype, need_weights):
    torch.manual_seed(0)
    ours = MultiHeadAttention(E, H, proj_bias=False).to(dtype)
    x = torch.randn(B, L, E, dtype=dtype, requires_grad=True)
    pad = padding(B, L)
    pad[0] = True  # every key of sample 0 is padding
    attn_mask = torch.zeros(L, L, dtype=torch.bool)
    attn_mask[2] = True  # query 2 sees nothing in every sample
    for kwargs in (
        {"key_padding_mask": pad},
        {"key_padding_mask": pad, "attn_mask": attn_mask},
        {"attn_mask": attn_mask.to(dtype).masked_fill(attn_mask, float("-inf"))},
    ):
        result = ours(x, **kwargs, need_weights=need_weights)
        out = result[0] if need_weights else result
        assert torch.isfinite(out).all()
        if "key_padding_mask" in kwargs:
            assert (out[0] == 0).all()
        if "attn_mask" in kwargs:
            assert (out[:, 2] == 0).all()
        out.float().sum().backward()
        assert torch.isfinite(x.grad).all()
        x.grad = None


def test_dropout_only_in_training():
    torch.manual_seed(0)
    ours = MultiHeadAttention(E, H, dropout=0.5)
    plain = MultiHeadAttention(E, H)
    plain.load_state_dict(ours.state_dict())
    x = torch.randn(B, L, E)
    ours.eval()
    assert torch.equal(ours(x), plain.eval()(x))
    assert torch.allclose(ours(x, need_weights=True)[0], plain(x), atol=1e-6)
    ours.train()
    assert not torch.allclose(ours(x), plain(x))


def test_incremental_self_attention_cache_equals_full_causal():
    torch.manual_seed(0)
    ours = MultiHeadAttention(E, H).eval()
    x = torch.randn(B, L, E)
    full = ours(x, is_causal=True)
    cache = KVCache()
    first = ours(x[:, :3], is_causal=True, cache=cache)  # a prompt of 3 tokens, then one token per step
    steps = [first] + [ours(x[:, i : i + 1], is_causal=True, cache=cache) for i in range(3, L)]
    assert len(cache) == L
    assert (torch.cat(steps, dim=1) - full).abs().max() <= 1e-5
    cache = KVCache()
    chunks = [ours(x[:, :4], is_causal=True, cache=cache), ours(x[:, 4:], is_causal=True, cache=cache)]
    assert (torch.cat(chunks, dim=1) - full).abs().max() <= 1e-5


def test_cross_attention_cache_projects_memory_once():
    torch.manual_seed(0)
    ours = MultiHeadAttention(E, H, self_attention=False, kdim=20).eval()
    q, memory, pad = torch.randn(B, L, E), torch.randn(B, S, 20), padding(B, S)
    full = ours(q, memory, key_padding_mask=pad)
    cache = KVCache()
    steps = [ours(q[:, :1], memory, key_padding_mask=pad, cache=cache)]
    cached_key = cache.key
    steps += [ours(q[:, i : i + 1], None, key_padding_mask=pad, cache=cache) for i in range(1, L)]
    assert cache.key is cached_key and len(cache) == S
    assert (torch.cat(steps, dim=1) - full).abs().max() <= 1e-5


def test_cache_reorder_selects_batch_rows():
    cache = KVCache(torch.arange(3.0).view(3, 1, 1, 1), torch.arange(3.0).view(3, 1, 1, 1))
    cache.reorder_(torch.tensor([2, 2, 0]))
    assert cache.key.flatten().tolist() == [2.0, 2.0, 0.0]


def test_merge_masks_conventions():
    pad = torch.tensor([[False, True]])
    allowed = merge_masks(2, 2, batch_size=1, num_heads=1, dtype=torch.float32, key_padding_mask=pad, is_causal=True)
    assert allowed.dtype == torch.bool and allowed[0, 0].tolist() == [[True, False], [True, False]]
    additive = merge_masks(
        2, 2, batch_size=1, num_heads=1, dtype=torch.float32, key_padding_mask=pad, attn_mask=torch.ones(2, 2)
    )
    assert additive[0, 0].tolist() == [[1.0, float("-inf")], [1.0, float("-inf")]]
    assert merge_masks(2, 2, batch_size=1, num_heads=1, dtype=torch.float32) is None


def test_errors_are_clear():
    with pytest.raises(ValueError, match=r"num_heads=5 must be positive and divide embed_dim=32"):
        MultiHeadAttention(32, 5)
    with pytest.raises(ValueError, match=r"kdim=8 and vdim=12"):
        MultiHeadAttention(32, 4, self_attention=False, kdim=8, vdim=12)
    with pytest.raises(ValueError, match=r"self_attention=False"):
        MultiHeadAttention(32, 4, kdim=8)
    ours = MultiHeadAttention(E, H)
    x = torch.randn(B, L, E)
    with pytest.raises(ValueError, match=r"key_padding_mask has shape \(3, 5\), expected \(3, 7\)"):
        ours(x, key_padding_mask=torch.zeros(B, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"attn_mask has shape \(7, 6\), expected \(7, 7\)"):
        ours(x, attn_mask=torch.zeros(L, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"query has shape \(3, 7, 16\)"):
        ours(torch.randn(B, L, 16))
