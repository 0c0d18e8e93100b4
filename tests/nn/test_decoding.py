import itertools
import math

import pytest
import torch
from torch import Tensor, nn

from lit_vision.nn.decoding import beam_search, greedy_decode, length_penalty
from lit_vision.nn.transformer import Seq2SeqTransformer

PAD, BOS, EOS, A, B, C = 0, 1, 2, 3, 4, 5


class _NoCache:
    def reorder_(self, index: Tensor) -> "_NoCache":
        return self


class BigramToy(nn.Module):
    """A decoder whose next-token distribution depends only on the last token (bos acts as the source's first token);
    greedy is a trap from bos: bos -> a (0.6) | b (0.4); a -> a (0.4) | b (0.3) | eos (0.3);
    b -> eos (0.9) | a (0.05) | b (0.05); c -> b (0.8) | a (0.1) | eos (0.1)."""

    bos_id, eos_id, pad_id = BOS, EOS, PAD

    def __init__(self) -> None:
        super().__init__()
        probs = torch.full((6, 6), 1e-9)
        probs[BOS, A], probs[BOS, B] = 0.6, 0.4
        probs[A, A], probs[A, B], probs[A, EOS] = 0.4, 0.3, 0.3
        probs[B, EOS], probs[B, A], probs[B, B] = 0.9, 0.05, 0.05
        probs[C, B], probs[C, A], probs[C, EOS] = 0.8, 0.1, 0.1
        probs[EOS, PAD] = probs[PAD, PAD] = 1.0
        self.register_buffer("log_table", probs.log())

    def encode(self, src: Tensor) -> tuple[Tensor, None]:
        return src[:, :1, None].float(), None  # the start state rides along as "memory"

    def decode(self, tgt: Tensor, memory: Tensor, memory_key_padding_mask: None, cache=None) -> Tensor:
        start = memory[:, :, 0].long().expand_as(tgt)
        return self.log_table[torch.where(tgt == BOS, start, tgt)]

    def init_cache(self) -> _NoCache:
        return _NoCache()

    def log_prob(self, sequence: list[int], start: int = BOS) -> float:
        return sum(self.log_table[prev, nxt].item() for prev, nxt in itertools.pairwise([start, *sequence]))


def toy_transformer(**kwargs) -> Seq2SeqTransformer:
    torch.manual_seed(0)
    args = dict(d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=64, max_len=32)
    return Seq2SeqTransformer(13, 11, **{**args, **kwargs}).eval()  # random weights; eos is tested on BigramToy


def sources() -> Tensor:
    g = torch.Generator().manual_seed(3)
    src = torch.randint(3, 13, (4, 9), generator=g)
    src[1, 6:] = PAD
    src[3, 4:] = PAD
    return src


@pytest.mark.parametrize("norm_first", [False, True])
def test_cached_greedy_equals_full_recomputation(norm_first):
    model = toy_transformer(norm_first=norm_first)
    src = sources()
    cached = greedy_decode(model, src, max_len=12, return_logits=True)
    full = greedy_decode(model, src, max_len=12, use_cache=False, return_logits=True)
    assert torch.equal(cached.tokens, full.tokens)
    assert (cached.logits - full.logits).abs().max() <= 1e-5
    assert (cached.scores - full.scores).abs().max() <= 1e-5
    assert cached.tokens.shape[1] <= 12


def test_greedy_logits_equal_teacher_forced_forward():
    model = toy_transformer()
    src = sources()
    out = greedy_decode(model, src, max_len=10, return_logits=True)
    tgt = torch.cat([torch.full((src.shape[0], 1), BOS), out.tokens[:, :-1]], dim=1)
    teacher_forced = model(src, tgt)
    done_before = torch.cumsum(out.tokens == EOS, dim=1) - (out.tokens == EOS).long()  # positions after eos are pad
    valid = done_before == 0
    assert (out.logits - teacher_forced)[valid].abs().max() <= 1e-5


def test_beam_size_one_equals_greedy():
    model = toy_transformer()
    src = sources()
    greedy = greedy_decode(model, src, max_len=12)
    beam = beam_search(model, src, beam_size=1, max_len=12)
    for b in range(src.shape[0]):
        length = beam.lengths[b, 0]
        assert torch.equal(beam.tokens[b, 0, :length], greedy.tokens[b, :length])
        assert math.isclose(beam.log_probs[b, 0].item(), greedy.scores[b].item(), abs_tol=1e-4)
    toy = BigramToy()
    toy_src = torch.tensor([[BOS], [C], [B]])  # greedy: a a a a a (no eos) / b eos / eos
    expected = [[A] * 5, [B, EOS, PAD, PAD, PAD], [EOS, PAD, PAD, PAD, PAD]]
    assert greedy_decode(toy, toy_src, max_len=5).tokens.tolist() == expected
    beam = beam_search(toy, toy_src, beam_size=1, max_len=5)
    assert beam.tokens[:, 0].tolist() == expected and beam.lengths[:, 0].tolist() == [5, 2, 1]


def test_cached_beam_search_equals_full_recomputation():
    model = toy_transformer()
    src = sources()
    cached = beam_search(model, src, beam_size=3, max_len=10)
    full = beam_search(model, src, beam_size=3, max_len=10, use_cache=False)
    assert torch.equal(cached.tokens, full.tokens)
    assert (cached.scores - full.scores).abs().max() <= 1e-5


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
def test_beam_search_on_handmade_model_finds_best_and_sorts_scores(alpha):
    toy = BigramToy()
    max_len = 4
    out = beam_search(toy, torch.full((1, 2), BOS), beam_size=4, length_penalty_alpha=alpha, max_len=max_len)
    scores = out.scores[0]
    assert torch.all(scores[:-1] >= scores[1:])
    # every returned score is the rescored hypothesis, normalised by the GNMT penalty
    for k in range(4):
        seq = out.tokens[0, k, : out.lengths[0, k]].tolist()
        assert seq[-1] == EOS or len(seq) == max_len
        log_prob = toy.log_prob(seq)
        assert math.isclose(out.log_probs[0, k].item(), log_prob, abs_tol=1e-4)
        assert math.isclose(scores[k].item(), log_prob / length_penalty(len(seq), alpha), abs_tol=1e-4)
    # brute force over every sequence: beam search's best is the true best, and beats greedy's trap
    candidates = [[*body, EOS] for n in range(max_len) for body in itertools.product([A, B], repeat=n)]
    candidates += [list(body) for body in itertools.product([A, B], repeat=max_len)]
    best = max(candidates, key=lambda seq: toy.log_prob(seq) / length_penalty(len(seq), alpha))
    assert out.tokens[0, 0, : out.lengths[0, 0]].tolist() == best == [B, EOS]


def test_length_penalty_formula():
    assert length_penalty(1, 0.6) == 1.0
    assert math.isclose(length_penalty(7, 0.6), 2.0**0.6)
    assert length_penalty(10, 0.0) == 1.0


def test_bad_arguments_raise():
    toy = BigramToy()
    src = torch.zeros(1, 2, dtype=torch.long)
    with pytest.raises(ValueError, match="beam_size=0"):
        beam_search(toy, src, beam_size=0)
    with pytest.raises(ValueError, match="max_len=0"):
        greedy_decode(toy, src, max_len=0)
