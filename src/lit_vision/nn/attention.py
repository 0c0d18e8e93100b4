"""Multi-head attention on ``F.scaled_dot_product_attention``, mask helpers and a key/value cache.

Mask convention (same as ``torch.nn.MultiheadAttention``): a bool mask is True where attention is NOT allowed; a float mask
is added to the attention logits. ``key_padding_mask`` is (B, S); ``attn_mask`` is (L, S), (B * H, L, S) or (B, H, L, S).
Query rows whose keys are all masked give zeros (never NaN) in every dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["KVCache", "MultiHeadAttention", "causal_mask", "merge_masks"]


def causal_mask(
    length: int, device: torch.device | str | None = None, *, key_length: int | None = None, offset: int = 0
) -> Tensor:
    """Bool (length, key_length) mask, True where query i may NOT see key j, i.e. j > i + offset.

    ``offset`` is the number of keys that precede the first query (cached keys in incremental decoding).
    """
    key_length = length + offset if key_length is None else key_length
    query_pos = torch.arange(length, device=device).unsqueeze(1) + offset
    return torch.arange(key_length, device=device).unsqueeze(0) > query_pos


def _check_mask_shape(name: str, mask: Tensor, expected: tuple[int, ...]) -> None:
    if tuple(mask.shape) != expected:
        raise ValueError(
            f"{name} has shape {tuple(mask.shape)}, expected {expected}; pass a mask that matches the inputs"
        )


def merge_masks(
    query_len: int,
    key_len: int,
    *,
    batch_size: int,
    num_heads: int,
    dtype: torch.dtype,
    device: torch.device | str | None = None,
    key_padding_mask: Tensor | None = None,
    attn_mask: Tensor | None = None,
    is_causal: bool = False,
    causal_offset: int = 0,
) -> Tensor | None:
    """Combine key-padding, attention and causal masks into one mask for ``F.scaled_dot_product_attention``.

    Inputs follow the torch.nn.MultiheadAttention convention (bool True = blocked, float = added). The result follows
    SDPA's: a bool mask True where attention IS allowed (when every input is bool), otherwise an additive float mask of
    ``dtype``. It broadcasts to (B, H, L, S); None when nothing is masked.
    """
    masks: list[Tensor] = []
    if key_padding_mask is not None:
        _check_mask_shape("key_padding_mask", key_padding_mask, (batch_size, key_len))
        masks.append(key_padding_mask[:, None, None, :])
    if attn_mask is not None:
        if attn_mask.dim() == 2:
            _check_mask_shape("attn_mask", attn_mask, (query_len, key_len))
        elif attn_mask.dim() == 3:
            _check_mask_shape("attn_mask", attn_mask, (batch_size * num_heads, query_len, key_len))
            attn_mask = attn_mask.view(batch_size, num_heads, query_len, key_len)
        elif (
            attn_mask.dim() != 4
            or attn_mask.shape[-2:] != (query_len, key_len)
            or attn_mask.shape[0] not in (1, batch_size)
            or attn_mask.shape[1] not in (1, num_heads)
        ):
            raise ValueError(
                f"attn_mask has shape {tuple(attn_mask.shape)}, expected (L, S)=({query_len}, {key_len}), "
                f"(B*H, L, S) or (B, H, L, S)=({batch_size}, {num_heads}, {query_len}, {key_len})"
            )
        masks.append(attn_mask)
    if is_causal:
        masks.append(causal_mask(query_len, device, key_length=key_len, offset=causal_offset))
    if not masks:
        return None
    device = masks[0].device if device is None else device
    if all(m.dtype == torch.bool for m in masks):
        blocked = masks[0].to(device)
        for m in masks[1:]:
            blocked = blocked | m.to(device)
        return ~blocked
    merged = None
    for m in masks:
        m = m.to(device)
        m = torch.zeros_like(m, dtype=dtype).masked_fill(m, float("-inf")) if m.dtype == torch.bool else m.to(dtype)
        merged = m if merged is None else merged + m
    return merged


def _guard_fully_masked(mask: Tensor) -> tuple[Tensor, Tensor]:
    """Unblock rows with no allowed key (so no kernel produces NaN) and return the rows to zero afterwards."""
    if mask.dtype == torch.bool:
        fully_masked = ~mask.any(dim=-1, keepdim=True)
        return mask | fully_masked, fully_masked
    fully_masked = torch.isneginf(mask).all(dim=-1, keepdim=True)
    return mask.masked_fill(fully_masked, 0.0), fully_masked


@dataclass
class KVCache:
    """Projected keys and values (B, H, S, head_dim) kept between incremental decoding steps.

    Self-attention appends the new step's keys/values on each call; cross-attention (``static``) projects the memory once
    and reuses it. ``reorder_`` selects batch rows in place (beam search).
    """

    key: Tensor | None = None
    value: Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.key is None else self.key.shape[2]

    def reorder_(self, index: Tensor) -> KVCache:
        if self.key is not None:
            self.key = self.key.index_select(0, index)
            self.value = self.value.index_select(0, index)
        return self


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention, batch first (B, L, E).

    Self-attention projects q, k, v with one fused ``qkv`` Linear; cross-attention (``self_attention=False``) projects the
    query with ``q`` and the key/value input (width ``kdim``) with one ``kv`` Linear. Names match timm's ViT ``Attention``.

    Args:
        embed_dim: width of the query input and of the output.
        num_heads: attention heads; must divide ``embed_dim``.
        dropout: dropout on the attention weights.
        bias: learn biases in the q/k/v projections.
        proj_bias: learn a bias in the output projection.
        self_attention: True projects q, k, v from one input; False is cross-attention over a key/value input.
        kdim: width of the key/value input (cross-attention only); None for ``embed_dim``.
        vdim: width of the value input; must equal ``kdim`` (one kv projection); None for ``kdim``.
        proj_drop: dropout after the output projection.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        *,
        dropout: float = 0.0,
        bias: bool = True,
        proj_bias: bool = True,
        self_attention: bool = True,
        kdim: int | None = None,
        vdim: int | None = None,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        if num_heads <= 0 or embed_dim % num_heads != 0:
            raise ValueError(
                f"num_heads={num_heads} must be positive and divide embed_dim={embed_dim}; "
                f"choose num_heads from the divisors of {embed_dim}"
            )
        kdim = embed_dim if kdim is None else kdim
        vdim = kdim if vdim is None else vdim
        if kdim != vdim:
            raise ValueError(f"kdim={kdim} and vdim={vdim} must be equal (keys and values share one kv projection)")
        if self_attention and kdim != embed_dim:
            raise ValueError(
                f"kdim={kdim} differs from embed_dim={embed_dim}; pass self_attention=False for "
                "cross-attention over inputs of another width"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout} must be in [0, 1)")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.scale = self.head_dim**-0.5
        self.self_attention = self_attention
        self.kdim = kdim
        if self_attention:
            self.qkv = nn.Linear(embed_dim, 3 * embed_dim, bias=bias)
        else:
            self.q = nn.Linear(embed_dim, embed_dim, bias=bias)
            self.kv = nn.Linear(kdim, 2 * embed_dim, bias=bias)
        self.attn_drop_p = dropout
        self.proj = nn.Linear(embed_dim, embed_dim, bias=proj_bias)
        self.proj_drop = nn.Dropout(proj_drop)

    def _split_heads(self, x: Tensor) -> Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def _project(
        self, query: Tensor, key: Tensor | None, value: Tensor | None, cache: KVCache | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Return q, k, v as (B, H, L|S, head_dim)."""
        batch, length, _ = query.shape
        E = self.embed_dim
        if self.self_attention:
            if (key is None or key is query) and (value is None or value is query):
                qkv = self.qkv(query).view(batch, length, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
                q, k, v = qkv.unbind(0)  # one stacked gradient in backward (indexing would zero-fill three)
                return q, k, v
            weight, bias = self.qkv.weight, self.qkv.bias
            q_w, k_w, v_w = weight.split(E)
            q_b, k_b, v_b = bias.split(E) if bias is not None else (None, None, None)
            key = query if key is None else key
            value = key if value is None else value
            return (
                self._split_heads(F.linear(query, q_w, q_b)),
                self._split_heads(F.linear(key, k_w, k_b)),
                self._split_heads(F.linear(value, v_w, v_b)),
            )
        q = self._split_heads(self.q(query))
        if cache is not None and cache.key is not None:  # memory projected on an earlier step
            return q, cache.key, cache.value
        if key is None:
            raise ValueError("key is None; cross-attention (self_attention=False) needs key (and value) inputs")
        if value is None or value is key:
            kv = self.kv(key).view(key.shape[0], key.shape[1], 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
            k, v = kv.unbind(0)
        else:
            k_w, v_w = self.kv.weight.split(E)
            k_b, v_b = self.kv.bias.split(E) if self.kv.bias is not None else (None, None)
            k, v = self._split_heads(F.linear(key, k_w, k_b)), self._split_heads(F.linear(value, v_w, v_b))
        if cache is not None:
            cache.key, cache.value = k, v
        return q, k, v

    def _check_inputs(self, query: Tensor, key: Tensor | None, value: Tensor | None) -> None:
        if query.dim() != 3 or query.shape[-1] != self.embed_dim:
            raise ValueError(f"query has shape {tuple(query.shape)}, expected (batch, length, {self.embed_dim})")
        for name, t in (("key", key), ("value", value)):
            if t is None or t is query:
                continue
            if t.dim() != 3 or t.shape[0] != query.shape[0] or t.shape[-1] != self.kdim:
                raise ValueError(f"{name} has shape {tuple(t.shape)}, expected ({query.shape[0]}, length, {self.kdim})")
        if key is not None and value is not None and key.shape[1] != value.shape[1]:
            raise ValueError(f"key length {key.shape[1]} differs from value length {value.shape[1]}; they must match")

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        *,
        key_padding_mask: Tensor | None = None,
        attn_mask: Tensor | None = None,
        is_causal: bool = False,
        need_weights: bool = False,
        cache: KVCache | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Attend ``query`` (B, L, E) to ``key``/``value`` (B, S, kdim); self-attention when they are omitted.

        With ``cache``, self-attention appends this step's keys/values to it and attends to all of them (causal masks are
        offset by the cached length); cross-attention projects ``key``/``value`` into it once and reuses them afterwards.
        Returns the output (B, L, E), and the attention weights (B, H, L, S) too when ``need_weights``.
        """
        self._check_inputs(query, key, value)
        batch, length, _ = query.shape
        q, k, v = self._project(query, key, value, cache)
        past = 0
        if cache is not None and self.self_attention:
            past = len(cache)
            if past:
                k = torch.cat([cache.key, k], dim=2)
                v = torch.cat([cache.value, v], dim=2)
            cache.key, cache.value = k, v
        key_len = k.shape[2]
        # is_causal alone maps to SDPA's fused causal kernel; everything else becomes one explicit mask.
        sdpa_causal = is_causal and key_padding_mask is None and attn_mask is None and past == 0 and length == key_len
        causal_needed = is_causal and not sdpa_causal and not (past and length == 1)
        mask = merge_masks(
            length,
            key_len,
            batch_size=batch,
            num_heads=self.num_heads,
            dtype=q.dtype,
            device=q.device,
            key_padding_mask=key_padding_mask,
            attn_mask=attn_mask,
            is_causal=causal_needed,
            causal_offset=past,
        )
        fully_masked = None
        if mask is not None and (key_padding_mask is not None or attn_mask is not None):
            mask, fully_masked = _guard_fully_masked(mask)
        dropout_p = self.attn_drop_p if self.training else 0.0

        if need_weights:
            out, weights = self._explicit_attention(q, k, v, mask, sdpa_causal, dropout_p)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=sdpa_causal)
        if fully_masked is not None:
            out = out.masked_fill(fully_masked, 0.0)
        out = self.proj_drop(self.proj(out.transpose(1, 2).reshape(batch, length, self.embed_dim)))
        if not need_weights:
            return out
        if fully_masked is not None:
            weights = weights.masked_fill(fully_masked, 0.0)
        return out, weights

    def _explicit_attention(
        self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, is_causal: bool, dropout_p: float
    ) -> tuple[Tensor, Tensor]:
        """softmax(q k^T / sqrt(d) + mask) v, returning the (pre-dropout) weights; used only for attention maps."""
        logits = (q * self.scale) @ k.transpose(-2, -1)
        if is_causal:
            mask = ~causal_mask(q.shape[2], q.device, key_length=k.shape[2])
        if mask is not None:
            logits = logits.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else logits + mask
        weights = logits.softmax(dim=-1)
        return F.dropout(weights, p=dropout_p, training=dropout_p > 0) @ v, weights

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, self_attention={self.self_attention}"
