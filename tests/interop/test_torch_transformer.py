import contextlib

import pytest
import torch
from torch import nn

from lit_vision.interop.torch_transformer import from_torch, to_torch
from lit_vision.nn.transformer import Transformer

D, HEADS, FFN, B, S, T = 32, 4, 64, 3, 9, 7

pytestmark = [  # torch's own notices about its nested-tensor fast path and mixed bool/float masks
    pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors"),
    pytest.mark.filterwarnings("ignore:enable_nested_tensor is True"),
    pytest.mark.filterwarnings("ignore:Support for mismatched"),
]


def inputs() -> dict:
    g = torch.Generator().manual_seed(1)
    src_pad = torch.zeros(B, S, dtype=torch.bool)
    src_pad[1, 6:] = True
    src_pad[2, 8:] = True
    tgt_pad = torch.zeros(B, T, dtype=torch.bool)
    tgt_pad[2, 5:] = True
    return {
        "src": torch.randn(B, S, D, generator=g),
        "tgt": torch.randn(B, T, D, generator=g),
        "src_key_padding_mask": src_pad,
        "tgt_key_padding_mask": tgt_pad,
        "memory_key_padding_mask": src_pad,
    }


def torch_outputs(model: nn.Transformer, x: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(memory, decoder output) of torch's model, with a causal target mask."""
    causal = nn.Transformer.generate_square_subsequent_mask(T)
    memory = model.encoder(x["src"], src_key_padding_mask=x["src_key_padding_mask"])
    out = model(**x, tgt_mask=causal, tgt_is_causal=True)
    return memory, out


def our_outputs(model: Transformer, x: dict) -> tuple[torch.Tensor, torch.Tensor]:
    memory = model.encode(x["src"], src_key_padding_mask=x["src_key_padding_mask"])
    return memory, model(**x, tgt_is_causal=True)


def assert_close(ours: tuple, theirs: tuple, src_pad: torch.Tensor) -> None:
    # torch's encoder fast path (eval + no_grad, post-norm) leaves padded source positions at LayerNorm(0):
    # compare the memory where it is used, and the full decoder output (padded memory is masked there).
    valid = ~src_pad
    assert (ours[0][valid] - theirs[0][valid]).abs().max() <= 1e-5
    assert (ours[1] - theirs[1]).abs().max() <= 1e-5


CONFIGS = [(norm_first, activation) for norm_first in (False, True) for activation in ("relu", "gelu")]


@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
@pytest.mark.parametrize(("norm_first", "activation"), CONFIGS)
def test_from_torch_equal_outputs(norm_first, activation, grad):
    torch.manual_seed(0)
    theirs = nn.Transformer(D, HEADS, 2, 2, FFN, activation=activation, batch_first=True, norm_first=norm_first).eval()
    ours = from_torch(theirs).eval()
    x = inputs()
    with contextlib.nullcontext() if grad else torch.no_grad():
        assert_close(our_outputs(ours, x), torch_outputs(theirs, x), x["src_key_padding_mask"])


@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
@pytest.mark.parametrize(("norm_first", "activation"), CONFIGS)
@pytest.mark.parametrize("final_norm", [None, True])
def test_to_torch_equal_outputs(norm_first, activation, grad, final_norm):
    torch.manual_seed(0)
    ours = Transformer(D, HEADS, 2, 3, FFN, activation=activation, norm_first=norm_first, final_norm=final_norm).eval()
    theirs = to_torch(ours).eval()
    x = inputs()
    with contextlib.nullcontext() if grad else torch.no_grad():
        assert_close(our_outputs(ours, x), torch_outputs(theirs, x), x["src_key_padding_mask"])


def test_round_trip_and_explicit_masks():
    torch.manual_seed(0)
    theirs = nn.Transformer(D, HEADS, 2, 2, FFN, batch_first=True, dropout=0.0)
    ours = from_torch(theirs)
    back = to_torch(ours)
    for (name, p), (name_back, p_back) in zip(theirs.state_dict().items(), back.state_dict().items(), strict=True):
        assert name == name_back and torch.equal(p, p_back)
    x = inputs()
    g = torch.Generator().manual_seed(2)
    masks = {
        "src_mask": torch.randn(S, S, generator=g),
        "tgt_mask": nn.Transformer.generate_square_subsequent_mask(T),
        "memory_mask": torch.rand(T, S, generator=g) < 0.2,
    }
    expected = theirs(**x, **masks)  # training mode, dropout 0: the plain (non-fast) path
    assert (ours(**x, **masks) - expected).abs().max() <= 1e-5


def test_sequence_first_and_bias_free_models_convert():
    torch.manual_seed(0)
    theirs = nn.Transformer(D, HEADS, 1, 1, FFN, bias=False).eval()  # batch_first=False
    ours = from_torch(theirs).eval()
    x = inputs()
    expected = theirs(x["src"].transpose(0, 1), x["tgt"].transpose(0, 1)).transpose(0, 1)
    assert (ours(x["src"], x["tgt"]) - expected).abs().max() <= 1e-5


def test_unsupported_models_raise():
    theirs = nn.Transformer(D, HEADS, 1, 1, FFN, batch_first=True, activation=nn.SiLU())
    with pytest.raises(ValueError, match="activation"):
        from_torch(theirs)
