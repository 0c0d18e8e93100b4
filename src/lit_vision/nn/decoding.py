"""Autoregressive decoding for encoder–decoder models: greedy search and beam search with the GNMT length penalty.

Works with any model that has ``encode(src) -> (memory, memory_key_padding_mask)``,
``decode(tgt, memory, memory_key_padding_mask, cache) -> logits (B, T, V)``, ``init_cache()`` (an object with
``reorder_(index)``) and ``bos_id`` / ``eos_id`` / ``pad_id`` attributes, e.g. ``Seq2SeqTransformer``. With the cache
(default) each step feeds only the newest token; ``use_cache=False`` recomputes the whole prefix (a reference).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

__all__ = ["BeamSearchOutput", "GreedyOutput", "beam_search", "greedy_decode", "length_penalty"]


class EncoderDecoder(Protocol):
    bos_id: int
    eos_id: int
    pad_id: int

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor | None]: ...

    def decode(
        self, tgt: Tensor, memory: Tensor | None, memory_key_padding_mask: Tensor | None, cache: Any = None
    ) -> Tensor: ...

    def init_cache(self) -> Any: ...


@dataclass
class GreedyOutput:
    tokens: Tensor  # (B, T) generated ids (no bos), eos included, pad after it
    scores: Tensor  # (B,) summed log-probabilities of the generated tokens up to and including eos
    logits: Tensor | None = None  # (B, T, V) the logits of every step when requested


@dataclass
class BeamSearchOutput:
    tokens: Tensor  # (B, K, T) hypotheses, best first, padded with pad_id
    scores: Tensor  # (B, K) log-probability / length_penalty, sorted descending (-inf for missing hypotheses)
    log_probs: Tensor  # (B, K) summed log-probabilities
    lengths: Tensor  # (B, K) generated lengths including eos


def length_penalty(length: int | Tensor, alpha: float) -> float | Tensor:
    """GNMT length penalty ((5 + |Y|) / 6) ** alpha (Wu et al. 2016); alpha=0 ranks by raw log-probability."""
    return ((5 + length) / 6) ** alpha


def _default_max_len(model: EncoderDecoder, src: Tensor, max_len: int | None) -> int:
    if max_len is None:
        max_len = 2 * src.shape[1] + 10
        model_max = getattr(model, "max_len", None)
        if model_max is not None:
            max_len = min(max_len, model_max)
    if max_len < 1:
        raise ValueError(f"max_len={max_len} must be >= 1 (the most tokens to generate, eos included)")
    return max_len


def _step_log_probs(
    model: EncoderDecoder, tokens: Tensor, memory: Tensor, memory_mask: Tensor | None, cache: Any
) -> tuple[Tensor, Tensor]:
    """(logits, log-probabilities) of the next token after ``tokens`` (B, t)."""
    if cache is not None:
        logits = model.decode(tokens[:, -1:], memory, memory_mask, cache)[:, -1]
    else:
        logits = model.decode(tokens, memory, memory_mask)[:, -1]
    return logits, logits.float().log_softmax(dim=-1)


@torch.no_grad()
def greedy_decode(
    model: EncoderDecoder,
    src: Tensor,
    max_len: int | None = None,
    *,
    use_cache: bool = True,
    return_logits: bool = False,
) -> GreedyOutput:
    """Pick the most likely token at every step until every sequence has produced eos or ``max_len`` tokens."""
    max_len = _default_max_len(model, src, max_len)
    memory, memory_mask = model.encode(src)
    batch = src.shape[0]
    tokens = torch.full((batch, 1), model.bos_id, dtype=torch.long, device=src.device)
    scores = torch.zeros(batch, device=src.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=src.device)
    cache = model.init_cache() if use_cache else None
    step_logits = []
    for _ in range(max_len):
        logits, log_probs = _step_log_probs(model, tokens, memory, memory_mask, cache)
        next_token = log_probs.argmax(dim=-1)
        scores += log_probs.gather(1, next_token[:, None]).squeeze(1).masked_fill(finished, 0.0)
        next_token = next_token.masked_fill(finished, model.pad_id)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
        if return_logits:
            step_logits.append(logits)
        finished |= next_token == model.eos_id
        if finished.all():
            break
    return GreedyOutput(tokens[:, 1:], scores, torch.stack(step_logits, dim=1) if return_logits else None)


@torch.no_grad()
def beam_search(
    model: EncoderDecoder,
    src: Tensor,
    beam_size: int = 4,
    length_penalty_alpha: float = 0.6,
    max_len: int | None = None,
    *,
    use_cache: bool = True,
) -> BeamSearchOutput:
    """Beam search ranking finished hypotheses by log P(Y|X) / ((5 + |Y|) / 6) ** alpha.

    Each step keeps the ``beam_size`` best unfinished continuations; a hypothesis ending in eos among the top
    ``beam_size`` candidates is finished. A source stops once it has ``beam_size`` finished hypotheses; after
    ``max_len`` tokens the surviving beams are finished as they are.
    """
    if beam_size < 1:
        raise ValueError(f"beam_size={beam_size} must be >= 1")
    max_len = _default_max_len(model, src, max_len)
    batch, K, device = src.shape[0], beam_size, src.device
    memory, memory_mask = model.encode(src)
    memory = memory.repeat_interleave(K, dim=0)
    memory_mask = memory_mask.repeat_interleave(K, dim=0) if memory_mask is not None else None
    tokens = torch.full((batch * K, 1), model.bos_id, dtype=torch.long, device=device)
    beam_scores = torch.full((batch, K), float("-inf"), device=device)
    beam_scores[:, 0] = 0.0  # all beams start identical: expand only the first
    cache = model.init_cache() if use_cache else None
    finished: list[list[tuple[float, float, Tensor]]] = [[] for _ in range(batch)]
    done = [False] * batch
    batch_offset = torch.arange(batch, device=device)[:, None] * K

    for step in range(max_len):
        length = step + 1
        _, log_probs = _step_log_probs(model, tokens, memory, memory_mask, cache)
        vocab = log_probs.shape[-1]
        candidates = (beam_scores.view(-1, 1) + log_probs).view(batch, K * vocab)
        top_scores, top_index = candidates.topk(min(2 * K, K * vocab), dim=1)
        top_beam, top_token = top_index // vocab, top_index % vocab
        is_eos = top_token == model.eos_id

        eos_hits = (is_eos[:, :K] & torch.isfinite(top_scores[:, :K])).nonzero().tolist()
        for b, j in eos_hits:
            if not done[b]:
                sequence = torch.cat([tokens[b * K + top_beam[b, j], 1:], top_token[b, j : j + 1]])
                score = top_scores[b, j].item()
                finished[b].append((score / length_penalty(length, length_penalty_alpha), score, sequence))

        alive_scores, alive_pos = top_scores.masked_fill(is_eos, float("-inf")).topk(K, dim=1)
        origin = (batch_offset + top_beam.gather(1, alive_pos)).view(-1)
        tokens = torch.cat([tokens[origin], top_token.gather(1, alive_pos).view(-1, 1)], dim=1)
        beam_scores = alive_scores
        if cache is not None:
            cache.reorder_(origin)

        for b in range(batch):
            done[b] = done[b] or len(finished[b]) >= K
        if step == max_len - 1:  # out of length: finish the surviving beams without eos
            for b in range(batch):
                if done[b]:
                    continue
                for k in range(K):
                    score = alive_scores[b, k].item()
                    if score != float("-inf"):
                        normalized = score / length_penalty(length, length_penalty_alpha)
                        finished[b].append((normalized, score, tokens[b * K + k, 1:]))
        if all(done):
            break
    return _collect(finished, K, model.pad_id, device)


def _collect(
    finished: list[list[tuple[float, float, Tensor]]], beam_size: int, pad_id: int, device: torch.device
) -> BeamSearchOutput:
    """Pack each source's best ``beam_size`` hypotheses (best first) into padded tensors."""
    batch = len(finished)
    best = [sorted(hyps, key=lambda h: h[0], reverse=True)[:beam_size] for hyps in finished]
    width = max((len(seq) for hyps in best for _, _, seq in hyps), default=0)
    tokens = torch.full((batch, beam_size, width), pad_id, dtype=torch.long, device=device)
    scores = torch.full((batch, beam_size), float("-inf"), device=device)
    log_probs = torch.full((batch, beam_size), float("-inf"), device=device)
    lengths = torch.zeros(batch, beam_size, dtype=torch.long, device=device)
    for b, hyps in enumerate(best):
        for k, (score, log_prob, seq) in enumerate(hyps):
            tokens[b, k, : len(seq)] = seq
            scores[b, k], log_probs[b, k], lengths[b, k] = score, log_prob, len(seq)
    return BeamSearchOutput(tokens, scores, log_probs, lengths)
