"""Layers of the encoder–decoder Transformer (``lit_vision.nn.transformer``): feed-forward block, encoder and decoder
layers (post-norm as in the paper, or pre-norm), their stacks, and the per-layer key/value ``DecoderCache`` used for
incremental decoding. Masks follow ``torch.nn.Transformer``'s convention (bool True = not allowed, float = added).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch.nn.functional as F
from torch import Tensor, nn

from lit_vision.nn.attention import KVCache, MultiHeadAttention

__all__ = [
    "ACTIVATIONS",
    "DecoderCache",
    "FeedForward",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "feedforward_activation",
]

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": F.relu, "gelu": F.gelu}


def feedforward_activation(name: str) -> Callable[[Tensor], Tensor]:
    """The feed-forward activation called ``name`` ("relu" or "gelu"); a one-line error names the choices."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation={name!r} is not supported; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


class FeedForward(nn.Module):
    """Position-wise feed-forward: fc2(dropout(act(fc1(x))))."""

    def __init__(
        self, d_model: int, dim_feedforward: int, dropout: float = 0.1, activation: str = "relu", bias: bool = True
    ) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_model, dim_feedforward, bias=bias)
        self.act = feedforward_activation(activation)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(dim_feedforward, d_model, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.drop(self.act(self.fc1(x))))


class TransformerEncoderLayer(nn.Module):
    """Self-attention + feed-forward, each wrapped in residual dropout and LayerNorm (after: paper; before: norm_first)."""

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        layer_norm_eps: float = 1e-5,
        norm_first: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, nhead, dropout=dropout, bias=bias, proj_bias=bias)
        self.ffn = FeedForward(d_model, dim_feedforward, dropout, activation, bias)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def _self_attention(
        self, x: Tensor, mask: Tensor | None, key_padding_mask: Tensor | None, is_causal: bool
    ) -> Tensor:
        return self.dropout1(self.self_attn(x, attn_mask=mask, key_padding_mask=key_padding_mask, is_causal=is_causal))

    def forward(
        self,
        src: Tensor,
        src_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool = False,
    ) -> Tensor:
        x = src
        if self.norm_first:
            x = x + self._self_attention(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self.dropout2(self.ffn(self.norm2(x)))
        x = self.norm1(x + self._self_attention(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self.dropout2(self.ffn(x)))


class TransformerDecoderLayer(nn.Module):
    """Causal self-attention, cross-attention to the encoder memory and feed-forward, each with residual and LayerNorm."""

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        layer_norm_eps: float = 1e-5,
        norm_first: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, nhead, dropout=dropout, bias=bias, proj_bias=bias)
        self.cross_attn = MultiHeadAttention(
            d_model, nhead, dropout=dropout, bias=bias, proj_bias=bias, self_attention=False
        )
        self.ffn = FeedForward(d_model, dim_feedforward, dropout, activation, bias)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm3 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor | None,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
        cache: tuple[KVCache, KVCache] | None = None,
    ) -> Tensor:
        """``cache`` = (self-attention cache, cross-attention cache) for incremental decoding; memory may then be None
        after the first step."""
        self_cache, cross_cache = cache if cache is not None else (None, None)

        def self_attention(x: Tensor) -> Tensor:
            out = self.self_attn(
                x, attn_mask=tgt_mask, key_padding_mask=tgt_key_padding_mask, is_causal=tgt_is_causal, cache=self_cache
            )
            return self.dropout1(out)

        def cross_attention(x: Tensor) -> Tensor:
            out = self.cross_attn(
                x,
                memory,
                attn_mask=memory_mask,
                key_padding_mask=memory_key_padding_mask,
                is_causal=memory_is_causal,
                cache=cross_cache,
            )
            return self.dropout2(out)

        x = tgt
        if self.norm_first:
            x = x + self_attention(self.norm1(x))
            x = x + cross_attention(self.norm2(x))
            return x + self.dropout3(self.ffn(self.norm3(x)))
        x = self.norm1(x + self_attention(x))
        x = self.norm2(x + cross_attention(x))
        return self.norm3(x + self.dropout3(self.ffn(x)))


@dataclass
class DecoderCache:
    """Per-layer key/value caches of a decoder: self-attention keys grow by one step per call, cross-attention keys
    (the projected memory) are computed on the first call and reused."""

    self_attn: list[KVCache] = field(default_factory=list)
    cross_attn: list[KVCache] = field(default_factory=list)

    @classmethod
    def empty(cls, num_layers: int) -> DecoderCache:
        return cls([KVCache() for _ in range(num_layers)], [KVCache() for _ in range(num_layers)])

    def __len__(self) -> int:
        """Number of target positions already decoded."""
        return len(self.self_attn[0]) if self.self_attn else 0

    def reorder_(self, index: Tensor) -> DecoderCache:
        """Keep batch rows ``index`` (in that order), e.g. the surviving beams."""
        for kv in (*self.self_attn, *self.cross_attn):
            kv.reorder_(index)
        return self


class TransformerEncoder(nn.Module):
    """A stack of encoder layers and an optional final LayerNorm (needed with norm_first)."""

    def __init__(self, layers: list[TransformerEncoderLayer], norm: nn.Module | None = None) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.norm = norm

    def forward(
        self,
        src: Tensor,
        mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool = False,
    ) -> Tensor:
        x = src
        for layer in self.layers:
            x = layer(x, mask, src_key_padding_mask, is_causal)
        return x if self.norm is None else self.norm(x)


class TransformerDecoder(nn.Module):
    """A stack of decoder layers and an optional final LayerNorm."""

    def __init__(self, layers: list[TransformerDecoderLayer], norm: nn.Module | None = None) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.norm = norm

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor | None,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
        cache: DecoderCache | None = None,
    ) -> Tensor:
        x = tgt
        for i, layer in enumerate(self.layers):
            layer_cache = (cache.self_attn[i], cache.cross_attn[i]) if cache is not None else None
            x = layer(
                x,
                memory,
                tgt_mask,
                memory_mask,
                tgt_key_padding_mask,
                memory_key_padding_mask,
                tgt_is_causal,
                memory_is_causal,
                layer_cache,
            )
        return x if self.norm is None else self.norm(x)
