"""The encoder–decoder Transformer as two graphs that greedy or beam search can drive outside Python.

`Seq2SeqEncoder`: src ids (B, S) -> the cross-attention keys and values of every decoder layer (L, B, H, S, D) and
the source padding mask (B, S). `Seq2SeqDecoderStep`: one new token per sequence, its position `step`, the self-attention
KV cache (L, B, H, max_len, D) and the encoder outputs -> next-token logits (B, V) and the updated cache. The cache has
a fixed length (the model's `max_len`): step t writes its keys/values at position t and attends to positions <= t, so
both graphs have static shapes apart from batch and source length. Both reuse the network's own parameters.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_vision.nn.transformer import Seq2SeqTransformer

ENCODER_OUTPUTS = ("cross_keys", "cross_values", "memory_padding_mask")
DECODER_INPUTS = ("tokens", "step", "self_keys", "self_values", "cross_keys", "cross_values", "memory_padding_mask")
DECODER_OUTPUTS = ("logits", "new_self_keys", "new_self_values")


def _heads(x: Tensor, num_heads: int) -> Tensor:
    batch, length, width = x.shape
    return x.view(batch, length, num_heads, width // num_heads).transpose(1, 2)


class Seq2SeqEncoder(nn.Module):
    def __init__(self, net: Seq2SeqTransformer) -> None:
        super().__init__()
        self.net = net

    def forward(self, src: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        memory, padding = self.net.encode(src)
        keys, values = [], []
        for layer in self.net.transformer.decoder.layers:
            attn = layer.cross_attn
            key, value = attn.kv(memory).chunk(2, dim=-1)
            keys.append(_heads(key, attn.num_heads))
            values.append(_heads(value, attn.num_heads))
        return torch.stack(keys), torch.stack(values), padding


class Seq2SeqDecoderStep(nn.Module):
    def __init__(self, net: Seq2SeqTransformer) -> None:
        super().__init__()
        self.net = net

    def empty_cache(self, batch: int, device: torch.device | None = None) -> tuple[Tensor, Tensor]:
        layers = self.net.transformer.decoder.layers
        attn = layers[0].self_attn
        shape = (len(layers), batch, attn.num_heads, self.net.max_len, attn.head_dim)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    def forward(
        self,
        tokens: Tensor,
        step: Tensor,
        self_keys: Tensor,
        self_values: Tensor,
        cross_keys: Tensor,
        cross_values: Tensor,
        memory_padding_mask: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        net = self.net
        positions = torch.arange(net.max_len, device=tokens.device)
        write = (positions == step).view(1, 1, -1, 1)  # the cache row of this step
        visible = (positions <= step).view(1, 1, 1, -1)
        source = ~memory_padding_mask[:, None, None, :]
        x = net.tgt_embed(tokens) * net.embed_scale + net.pos_embed(step.view(1))
        new_keys, new_values = [], []
        for i, layer in enumerate(net.transformer.decoder.layers):
            attn = layer.self_attn

            def self_attention(h: Tensor, i: int = i, attn: nn.Module = attn) -> Tensor:
                q, k, v = (_heads(t, attn.num_heads) for t in attn.qkv(h).chunk(3, dim=-1))
                keys = torch.where(write, k, self_keys[i])
                values = torch.where(write, v, self_values[i])
                new_keys.append(keys)
                new_values.append(values)
                out = F.scaled_dot_product_attention(q, keys, values, attn_mask=visible)
                return attn.proj(out.transpose(1, 2).flatten(2))

            def cross_attention(h: Tensor, i: int = i, attn: nn.Module = layer.cross_attn) -> Tensor:
                q = _heads(attn.q(h), attn.num_heads)
                out = F.scaled_dot_product_attention(q, cross_keys[i], cross_values[i], attn_mask=source)
                return attn.proj(out.transpose(1, 2).flatten(2))

            if layer.norm_first:
                x = x + self_attention(layer.norm1(x))
                x = x + cross_attention(layer.norm2(x))
                x = x + layer.ffn(layer.norm3(x))
            else:
                x = layer.norm1(x + self_attention(x))
                x = layer.norm2(x + cross_attention(x))
                x = layer.norm3(x + layer.ffn(x))
        norm = net.transformer.decoder.norm
        x = x if norm is None else norm(x)
        return net.forward_head(x)[:, -1], torch.stack(new_keys), torch.stack(new_values)


Runner = Callable[..., tuple]


def greedy_logits(encoder: Runner, step: Runner, src: Tensor, empty_cache: Runner, steps: int, ids: tuple) -> Tensor:
    """Greedy decoding through `encoder` and `step` callables (eager modules, ONNX sessions or loaded programs, all
    taking and returning torch tensors) for `steps` tokens: the logits (B, steps, V) of every step. `ids` is
    (bos_id, eos_id, pad_id); finished rows are fed padding, as `lit_vision.nn.decoding.greedy_decode` does."""
    bos_id, eos_id, pad_id = ids
    cross_keys, cross_values, padding = encoder(src)
    batch = src.shape[0]
    self_keys, self_values = empty_cache(batch)
    tokens = torch.full((batch, 1), bos_id, dtype=torch.long)
    finished = torch.zeros(batch, dtype=torch.bool)
    all_logits = []
    for t in range(steps):
        logits, self_keys, self_values = step(
            tokens, torch.tensor(t), self_keys, self_values, cross_keys, cross_values, padding
        )
        all_logits.append(logits)
        tokens = logits.argmax(dim=-1).masked_fill(finished, pad_id)[:, None]
        finished |= tokens[:, 0] == eos_id
    return torch.stack(all_logits, dim=1)


def reference_logits(net: Seq2SeqTransformer, src: Tensor) -> Tensor:
    """Eager greedy decoding with the network's own KV cache: logits (B, T, V) of every step."""
    from lit_vision.nn.decoding import greedy_decode

    return greedy_decode(net, src, return_logits=True).logits


def example_inputs(net: Seq2SeqTransformer, src: Tensor) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
    """Inputs to trace the encoder and the decoder step with (the decoder at step 1 of `src`'s batch)."""
    encoder, step = Seq2SeqEncoder(net), Seq2SeqDecoderStep(net)
    with torch.no_grad():
        cross_keys, cross_values, padding = encoder(src)
        keys, values = step.empty_cache(src.shape[0])
        tokens = torch.full((src.shape[0], 1), net.bos_id, dtype=torch.long)
    return (src,), (tokens, torch.tensor(1), keys, values, cross_keys, cross_values, padding)
