import math

import pytest
import torch

from lit_vision.nn.transformer import (
    PRESETS,
    Seq2SeqTransformer,
    SinusoidalPositionalEncoding,
    Transformer,
    transformer_base,
    transformer_big,
)

PAD, BOS, EOS = 0, 1, 2


def small_seq2seq(**kwargs) -> Seq2SeqTransformer:
    torch.manual_seed(0)
    args = dict(d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=64, max_len=64)
    return Seq2SeqTransformer(15, 17, **{**args, **kwargs}).eval()


def num_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())  # tied parameters count once


def test_preset_parameter_counts():
    with torch.device("meta"):  # counting needs no memory or initialisation
        # Paper (Table 3): base ≈ 65M, big ≈ 213M with a shared ~37k EN–DE BPE vocabulary and tied embeddings.
        # Ours: 18.94M embeddings + 6 × 3.152M encoder + 6 × 4.204M decoder layers (no final norms in post-norm).
        assert num_params(transformer_base()) == 63_082_496
        assert num_params(transformer_big()) == 214_245_376
        assert (
            num_params(transformer_base(norm_first=True)) == 63_082_496 + 2 * 2 * 512
        )  # + final encoder/decoder norms
        untied = transformer_base(32000, 32000, share_embeddings=False, tie_output=False)
        assert num_params(untied) == 63_082_496 - 37000 * 512 + 3 * 32000 * 512
        assert set(PRESETS) == {"transformer_base", "transformer_big"}


def test_transformer_shapes_and_norm_placement():
    torch.manual_seed(0)
    post = Transformer(32, 4, 2, 3, 64)
    pre = Transformer(32, 4, 2, 3, 64, norm_first=True)
    assert post.encoder.norm is None and post.decoder.norm is None
    assert pre.encoder.norm is not None and pre.decoder.norm is not None
    src, tgt = torch.randn(2, 9, 32), torch.randn(2, 5, 32)
    for model in (post, pre):
        out = model(src, tgt, tgt_is_causal=True)
        assert out.shape == (2, 5, 32)
        model.eval()
        assert torch.equal(model(src, tgt), model.decode(tgt, model.encode(src)))


def test_transformer_causal_flag_equals_causal_mask_and_masks_future():
    torch.manual_seed(0)
    model = Transformer(32, 4, 1, 2, 64).eval()
    src, tgt = torch.randn(2, 9, 32), torch.randn(2, 5, 32)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(5)
    expected = model(src, tgt, tgt_mask=causal)
    assert (model(src, tgt, tgt_is_causal=True) - expected).abs().max() <= 1e-5
    changed = tgt.clone()
    changed[:, 3:] += 1.0
    assert (model(src, changed, tgt_is_causal=True)[:, :3] - expected[:, :3]).abs().max() <= 1e-5


def test_dropout_only_in_training():
    torch.manual_seed(0)
    model = Transformer(32, 4, 1, 1, 64, dropout=0.5)
    src, tgt = torch.randn(2, 6, 32), torch.randn(2, 4, 32)
    model.eval()
    assert torch.equal(model(src, tgt), model(src, tgt))
    model.train()
    assert not torch.allclose(model(src, tgt), model(src, tgt))


def test_sinusoidal_encoding_formula():
    table = SinusoidalPositionalEncoding(8, max_len=20).table
    pos, i = 7, 2
    assert math.isclose(table[pos, 2 * i].item(), math.sin(pos / 10000 ** (2 * i / 8)), abs_tol=1e-6)
    assert math.isclose(table[pos, 2 * i + 1].item(), math.cos(pos / 10000 ** (2 * i / 8)), abs_tol=1e-6)
    assert table[0, 1::2].eq(1).all() and table[0, 0::2].eq(0).all()


def test_seq2seq_embeddings_are_scaled_and_positioned():
    model = small_seq2seq()
    tokens = torch.tensor([[5, 6, 7]])
    expected = model.src_embed(tokens) * math.sqrt(32) + model.pos_embed.table[:3]
    assert torch.allclose(model._embed(model.src_embed, tokens), expected)
    assert model.src_embed.weight[PAD].eq(0).all()


@pytest.mark.parametrize("positional", ["sinusoidal", "learned"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_seq2seq_ignores_source_padding_and_future_targets(positional, norm_first):
    model = small_seq2seq(positional=positional, norm_first=norm_first)
    src = torch.tensor([[5, 6, 7, 8], [9, 10, PAD, PAD]])
    tgt = torch.tensor([[BOS, 4, 5, 6], [BOS, 7, 8, 9]])
    logits = model(src, tgt)
    assert logits.shape == (2, 4, 17)
    padded_more = torch.cat([src, torch.full((2, 3), PAD)], dim=1)
    assert (model(padded_more, tgt) - logits).abs().max() <= 1e-5
    assert (model(src[1:, :2], tgt[1:]) - logits[1:]).abs().max() <= 1e-5
    changed = tgt.clone()
    changed[:, 2:] = 3
    assert (model(src, changed)[:, :2] - logits[:, :2]).abs().max() <= 1e-5


def test_shared_and_tied_embeddings():
    torch.manual_seed(0)
    shared = Seq2SeqTransformer(
        20,
        20,
        d_model=32,
        nhead=4,
        num_encoder_layers=1,
        num_decoder_layers=1,
        dim_feedforward=64,
        share_embeddings=True,
    )
    assert shared.src_embed is shared.tgt_embed and shared.head.weight is shared.tgt_embed.weight
    separate = small_seq2seq(tie_output=False)
    assert separate.src_embed is not separate.tgt_embed and separate.head.weight is not separate.tgt_embed.weight
    assert small_seq2seq(positional="learned").no_weight_decay() == {"pos_embed.weight"}
    assert small_seq2seq().no_weight_decay() == set()
    assert {"pos_embed.weight"} <= {name for name, _ in small_seq2seq(positional="learned").named_parameters()}


def test_gradients_reach_every_parameter():
    model = small_seq2seq(positional="learned").train()
    src = torch.tensor([[5, 6, 7, 8], [9, 10, PAD, PAD]])
    tgt = torch.tensor([[BOS, 4, 5], [BOS, 7, 8]])
    model(src, tgt).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_errors_are_clear():
    with pytest.raises(ValueError, match=r"nhead=5 does not divide d_model=32"):
        Transformer(32, 5)
    with pytest.raises(ValueError, match=r"activation='swish'"):
        Transformer(32, 4, activation="swish")
    with pytest.raises(ValueError, match=r"share_embeddings=True needs src_vocab_size \(15\) == tgt_vocab_size \(17\)"):
        small_seq2seq(share_embeddings=True)
    with pytest.raises(ValueError, match=r"positional='rope'"):
        small_seq2seq(positional="rope")
    with pytest.raises(ValueError, match=r"eos_id=40"):
        small_seq2seq(eos_id=40)
    model = small_seq2seq(max_len=8)
    with pytest.raises(ValueError, match=r"sequence length 9 exceeds max_len=8"):
        model(torch.ones(1, 9, dtype=torch.long), torch.ones(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"src batch 2 differs from tgt batch 1"):
        model(torch.ones(2, 3, dtype=torch.long), torch.ones(1, 3, dtype=torch.long))
    transformer = Transformer(32, 4, 1, 1, 64)
    with pytest.raises(ValueError, match=r"src has shape \(2, 3, 16\), expected \(batch, length, d_model=32\)"):
        transformer(torch.randn(2, 3, 16), torch.randn(2, 3, 32))
    with pytest.raises(ValueError, match=r"memory is None"):
        transformer.decode(torch.randn(2, 3, 32), None)
