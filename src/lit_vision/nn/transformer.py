"""Encoder–decoder Transformer ("Attention Is All You Need", Vaswani et al. 2017).

``Transformer`` is a batch-first stack with the call signature of ``torch.nn.Transformer`` (masks follow its convention:
bool True = not allowed, float = added to the logits). ``*_is_causal=True`` applies a causal mask by itself (no mask tensor
needed, and the fused causal kernel is used when nothing else is masked); with a mask too, both apply.
``Seq2SeqTransformer`` adds token embeddings scaled by sqrt(d_model), positional encodings and the output projection, and
supports incremental decoding with a ``DecoderCache`` (see ``lit_vision.nn.decoding``). The layers live in
``lit_vision.nn.transformer_layers`` and are re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from lit_vision.nn.layers import check_heads, check_positive, check_rates
from lit_vision.nn.transformer_layers import (
    DecoderCache,
    FeedForward,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    feedforward_activation,
)

__all__ = [
    "PRESETS",
    "DecoderCache",
    "FeedForward",
    "Seq2SeqTransformer",
    "SinusoidalPositionalEncoding",
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "transformer_base",
    "transformer_big",
]


class Transformer(nn.Module):
    """Batch-first encoder–decoder with ``torch.nn.Transformer``'s constructor arguments and ``forward`` signature.

    ``torch.nn.Transformer`` always has final norms: ``interop.torch_transformer.from_torch`` sets ``final_norm=True``.

    Args:
        d_model: model width.
        nhead: attention heads; must divide ``d_model``.
        num_encoder_layers: encoder layers.
        num_decoder_layers: decoder layers.
        dim_feedforward: hidden width of the feed-forward blocks.
        dropout: dropout on attention weights, sublayer outputs and in the feed-forward blocks.
        activation: feed-forward activation: "relu" or "gelu".
        layer_norm_eps: epsilon of every LayerNorm.
        norm_first: pre-norm layers (LayerNorm before each sublayer); False is the paper's post-norm.
        bias: learn biases in the linear layers and LayerNorms.
        final_norm: a LayerNorm after each stack; None means "only with norm_first" (the post-norm paper model has none).
    """

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        layer_norm_eps: float = 1e-5,
        norm_first: bool = False,
        bias: bool = True,
        final_norm: bool | None = None,
    ) -> None:
        super().__init__()
        check_positive(d_model=d_model, num_encoder_layers=num_encoder_layers, num_decoder_layers=num_decoder_layers)
        check_positive(dim_feedforward=dim_feedforward)
        check_heads(nhead, d_model, "nhead", f"d_model={d_model}")
        check_rates(dropout=dropout)
        feedforward_activation(activation)
        self.d_model = d_model
        self.nhead = nhead
        self.norm_first = norm_first
        self.batch_first = True
        final_norm = norm_first if final_norm is None else final_norm
        layer_args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, norm_first, bias)

        def norm() -> nn.Module | None:
            return nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias) if final_norm else None

        self.encoder = TransformerEncoder(
            [TransformerEncoderLayer(*layer_args) for _ in range(num_encoder_layers)], norm()
        )
        self.decoder = TransformerDecoder(
            [TransformerDecoderLayer(*layer_args) for _ in range(num_decoder_layers)], norm()
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform matrices (as torch.nn.Transformer), zero attention biases."""
        for name, p in self.named_parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
            elif "attn" in name and name.endswith("bias"):
                nn.init.zeros_(p)

    def _check(self, name: str, x: Tensor) -> None:
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(
                f"{name} has shape {tuple(x.shape)}, expected (batch, length, d_model={self.d_model}); "
                "Transformer is batch-first"
            )

    def encode(
        self,
        src: Tensor,
        src_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        src_is_causal: bool | None = None,
    ) -> Tensor:
        self._check("src", src)
        return self.encoder(src, src_mask, src_key_padding_mask, bool(src_is_causal))

    def decode(
        self,
        tgt: Tensor,
        memory: Tensor | None,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
        cache: DecoderCache | None = None,
    ) -> Tensor:
        """Decode ``tgt`` against ``memory``. With ``cache`` pass only the new target positions; memory is needed on the
        first call only."""
        self._check("tgt", tgt)
        if memory is not None:
            self._check("memory", memory)
            if memory.shape[0] != tgt.shape[0]:
                raise ValueError(
                    f"memory batch {memory.shape[0]} differs from tgt batch {tgt.shape[0]}; they must match"
                )
        elif cache is None or not cache.cross_attn or cache.cross_attn[0].key is None:
            raise ValueError(
                "memory is None; pass the encoder output (it may be omitted only after a cached first step)"
            )
        return self.decoder(
            tgt,
            memory,
            tgt_mask,
            memory_mask,
            tgt_key_padding_mask,
            memory_key_padding_mask,
            bool(tgt_is_causal),
            memory_is_causal,
            cache,
        )

    def init_cache(self) -> DecoderCache:
        return DecoderCache.empty(len(self.decoder.layers))

    def forward(
        self,
        src: Tensor,
        tgt: Tensor,
        src_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        src_is_causal: bool | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        """src (B, S, E), tgt (B, T, E) -> (B, T, E)."""
        self._check("src", src)
        self._check("tgt", tgt)
        if src.shape[0] != tgt.shape[0]:
            raise ValueError(f"src batch {src.shape[0]} differs from tgt batch {tgt.shape[0]}; they must match")
        memory = self.encode(src, src_mask, src_key_padding_mask, src_is_causal)
        return self.decode(
            tgt,
            memory,
            tgt_mask,
            memory_mask,
            tgt_key_padding_mask,
            memory_key_padding_mask,
            tgt_is_causal,
            memory_is_causal,
        )


class SinusoidalPositionalEncoding(nn.Module):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)); a non-persistent buffer."""

    def __init__(self, d_model: int, max_len: int = 1024) -> None:
        super().__init__()
        position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
        inv_freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(10000.0) / d_model))
        table = torch.zeros(max_len, d_model, dtype=torch.float64)
        table[:, 0::2] = torch.sin(position * inv_freq)
        table[:, 1::2] = torch.cos(position * inv_freq[: d_model // 2])
        self.register_buffer("table", table.float(), persistent=False)

    def forward(self, positions: Tensor) -> Tensor:
        return self.table[positions]


class Seq2SeqTransformer(nn.Module):
    """Token-to-token Transformer: embeddings × sqrt(d_model) + positions → ``Transformer`` → vocabulary logits.

    Padding (``pad_id``) in ``src`` is masked in the encoder and cross-attention; ``tgt`` is the decoder input
    (starting with ``bos_id``) and is masked causally.

    Args:
        src_vocab_size: source vocabulary size.
        tgt_vocab_size: target vocabulary size.
        d_model: model width.
        nhead: attention heads; must divide ``d_model``.
        num_encoder_layers: encoder layers.
        num_decoder_layers: decoder layers.
        dim_feedforward: hidden width of the feed-forward blocks.
        dropout: dropout on embeddings, attention weights, sublayer outputs and in the feed-forward blocks.
        activation: feed-forward activation: "relu" or "gelu".
        norm_first: pre-norm layers (LayerNorm before each sublayer); False is the paper's post-norm.
        positional: position encoding: "sinusoidal" (paper) or "learned".
        max_len: longest sequence the position encoding covers.
        share_embeddings: one embedding table for source and target (needs equal vocabularies; paper).
        tie_output: use the target embedding matrix as the output projection (paper).
        pad_id: padding token id, masked in attention; its embedding is zero.
        bos_id: begin-of-sequence token id that starts every decoder input.
        eos_id: end-of-sequence token id that ends decoding.
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        positional: str = "sinusoidal",
        max_len: int = 1024,
        share_embeddings: bool = False,
        tie_output: bool = True,
        pad_id: int = 0,
        bos_id: int = 1,
        eos_id: int = 2,
    ) -> None:
        super().__init__()
        if positional not in ("sinusoidal", "learned"):
            raise ValueError(f"positional={positional!r} is not supported; choose 'sinusoidal' or 'learned'")
        if share_embeddings and src_vocab_size != tgt_vocab_size:
            raise ValueError(
                f"share_embeddings=True needs src_vocab_size ({src_vocab_size}) == tgt_vocab_size "
                f"({tgt_vocab_size}); build one joint vocabulary or set share_embeddings=False"
            )
        for name, token in (("pad_id", pad_id), ("bos_id", bos_id), ("eos_id", eos_id)):
            if not 0 <= token < min(src_vocab_size, tgt_vocab_size):
                raise ValueError(
                    f"{name}={token} is outside the vocabularies (sizes {src_vocab_size}, {tgt_vocab_size})"
                )
        self.d_model = d_model
        self.max_len = max_len
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.embed_scale = math.sqrt(d_model)
        self.src_embed = nn.Embedding(src_vocab_size, d_model, padding_idx=pad_id)
        self.tgt_embed = (
            self.src_embed if share_embeddings else nn.Embedding(tgt_vocab_size, d_model, padding_idx=pad_id)
        )
        if positional == "sinusoidal":
            self.pos_embed: nn.Module = SinusoidalPositionalEncoding(d_model, max_len)
        else:
            self.pos_embed = nn.Embedding(max_len, d_model)
        self.pos_drop = nn.Dropout(dropout)
        self.transformer = Transformer(
            d_model,
            nhead,
            num_encoder_layers,
            num_decoder_layers,
            dim_feedforward,
            dropout,
            activation,
            norm_first=norm_first,
        )
        self.head = nn.Linear(d_model, tgt_vocab_size, bias=False)
        if tie_output:
            self.head.weight = self.tgt_embed.weight
        self._init_embeddings()

    def _init_embeddings(self) -> None:
        for embedding in dict.fromkeys((self.src_embed, self.tgt_embed)):  # once each, in a fixed order (seeded init)
            nn.init.normal_(embedding.weight, std=self.d_model**-0.5)
            with torch.no_grad():
                embedding.weight[self.pad_id].zero_()
        if self.head.weight is not self.tgt_embed.weight:
            nn.init.normal_(self.head.weight, std=self.d_model**-0.5)
        if isinstance(self.pos_embed, nn.Embedding):
            nn.init.normal_(self.pos_embed.weight, std=0.02)

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed.weight"} if isinstance(self.pos_embed, nn.Embedding) else set()

    def _embed(self, embedding: nn.Embedding, tokens: Tensor, offset: int = 0) -> Tensor:
        if tokens.dim() != 2:
            raise ValueError(f"tokens have shape {tuple(tokens.shape)}, expected (batch, length) token ids")
        if offset + tokens.shape[1] > self.max_len:
            raise ValueError(
                f"sequence length {offset + tokens.shape[1]} exceeds max_len={self.max_len}; "
                "raise max_len or shorten the input"
            )
        positions = torch.arange(offset, offset + tokens.shape[1], device=tokens.device)
        return self.pos_drop(embedding(tokens) * self.embed_scale + self.pos_embed(positions))

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """src (B, S) token ids -> (memory (B, S, E), source padding mask (B, S), True at padding)."""
        padding_mask = src == self.pad_id
        return self.transformer.encode(
            self._embed(self.src_embed, src), src_key_padding_mask=padding_mask
        ), padding_mask

    def decode_features(
        self,
        tgt: Tensor,
        memory: Tensor | None,
        memory_key_padding_mask: Tensor | None,
        cache: DecoderCache | None = None,
    ) -> Tensor:
        """Decoder states (B, T, E) for decoder input ``tgt`` (B, T); with ``cache``, ``tgt`` holds only new tokens."""
        offset = len(cache) if cache is not None else 0
        x = self._embed(self.tgt_embed, tgt, offset)
        return self.transformer.decode(
            x, memory, memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=True, cache=cache
        )

    def decode(
        self,
        tgt: Tensor,
        memory: Tensor | None,
        memory_key_padding_mask: Tensor | None,
        cache: DecoderCache | None = None,
    ) -> Tensor:
        """Logits (B, T, V) for decoder input ``tgt``; see ``decode_features``."""
        return self.forward_head(self.decode_features(tgt, memory, memory_key_padding_mask, cache))

    def init_cache(self) -> DecoderCache:
        return self.transformer.init_cache()

    def forward_features(self, src: Tensor, tgt: Tensor) -> Tensor:
        memory, padding_mask = self.encode(src)
        return self.decode_features(tgt, memory, padding_mask)

    def forward_head(self, x: Tensor) -> Tensor:
        return self.head(x)

    def forward(self, src: Tensor, tgt: Tensor) -> Tensor:
        """src (B, S) and decoder input tgt (B, T) token ids -> next-token logits (B, T, tgt_vocab_size)."""
        if src.shape[0] != tgt.shape[0]:
            raise ValueError(f"src batch {src.shape[0]} differs from tgt batch {tgt.shape[0]}; they must match")
        return self.forward_head(self.forward_features(src, tgt))


def transformer_base(src_vocab_size: int = 37000, tgt_vocab_size: int | None = None, **kwargs) -> Seq2SeqTransformer:
    """Paper's base model: d_model 512, 6+6 layers, 8 heads, ffn 2048, dropout 0.1 (shared vocabulary by default)."""
    tgt_vocab_size = src_vocab_size if tgt_vocab_size is None else tgt_vocab_size
    kwargs.setdefault("share_embeddings", src_vocab_size == tgt_vocab_size)
    args = dict(d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048, dropout=0.1)
    return Seq2SeqTransformer(src_vocab_size, tgt_vocab_size, **{**args, **kwargs})


def transformer_big(src_vocab_size: int = 37000, tgt_vocab_size: int | None = None, **kwargs) -> Seq2SeqTransformer:
    """Paper's big model: d_model 1024, 6+6 layers, 16 heads, ffn 4096, dropout 0.3 (EN-DE)."""
    tgt_vocab_size = src_vocab_size if tgt_vocab_size is None else tgt_vocab_size
    kwargs.setdefault("share_embeddings", src_vocab_size == tgt_vocab_size)
    args = dict(d_model=1024, nhead=16, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=4096, dropout=0.3)
    return Seq2SeqTransformer(src_vocab_size, tgt_vocab_size, **{**args, **kwargs})


PRESETS: dict[str, Callable[..., Seq2SeqTransformer]] = {
    "transformer_base": transformer_base,
    "transformer_big": transformer_big,
}
