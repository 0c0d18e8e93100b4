import pytest
import timm
import torch
import torch.nn.functional as F
from torch import nn

from lit_vision.interop.profile import attention_macs, profile
from lit_vision.nn.attention import MultiHeadAttention
from lit_vision.nn.swin import WindowAttention, swin_s, swin_t, window_partition


def on_meta(build, *args, **kwargs) -> nn.Module:
    """Counting needs shapes only: a model on the meta device costs no memory and no arithmetic."""
    with torch.device("meta"):
        return build(*args, **kwargs)


def test_swin_t_matches_the_reference_table():
    result = profile(on_meta(swin_t), (3, 224, 224))
    assert result["params"] == 28_288_354
    assert result["macs"] == pytest.approx(4.491e9, rel=0.01)


def test_swin_s_matches_the_reference_table():
    result = profile(on_meta(swin_s), (3, 224, 224))
    assert result["params"] == 49_606_258
    assert result["macs"] == pytest.approx(8.741e9, rel=0.01)


def test_swin_counts_equal_timm_unfused_attention():
    # timm's Swin multiplies q @ k^T and weights @ v explicitly (bmm, always counted); ours goes through SDPA
    torch.manual_seed(0)
    config = dict(
        img_size=32, patch_size=2, window_size=4, embed_dim=24, depths=(2, 2), num_heads=(2, 4), num_classes=10
    )
    ours = swin_t(**config)
    theirs = timm.models.swin_transformer.SwinTransformer(**config)
    assert profile(ours, (3, 32, 32)) == profile(theirs, (3, 32, 32))


@pytest.mark.parametrize(
    ("name", "params", "gmacs"),
    [("vit_tiny_patch16_224", 5_717_416, 1.254), ("convmixer_768_32", 21_110_248, 20.677)],
)
def test_vit_and_convmixer_match_the_reference_table(name, params, gmacs):
    from lit_vision.nn import convmixer, vit

    build = {**vit.PRESETS, **convmixer.PRESETS}.get(name) or (lambda: timm.create_model(name, pretrained=False))
    result = profile(on_meta(build), (3, 224, 224))
    assert result["params"] == params
    assert result["macs"] == pytest.approx(gmacs * 1e9, rel=0.01)


def test_w_msa_layer_matches_the_paper_formula():
    # Swin-T stage 1: h = w = 56, C = 96, M = 7: Omega(W-MSA) = 4hwC^2 + 2M^2hwC
    h = w = 56
    channels, window = 96, 7
    attention = WindowAttention(channels, num_heads=3, window_size=(window, window))
    windows = window_partition(torch.randn(1, h, w, channels), (window, window))
    macs = profile(attention, inputs=windows)["macs"]
    assert macs == 4 * h * w * channels**2 + 2 * window**2 * h * w * channels


def test_msa_layer_matches_the_paper_formula():
    # global attention over a 14x14 map: Omega(MSA) = 4hwC^2 + 2(hw)^2C, both as MultiHeadAttention and as one window
    h = w = 14
    channels = 96
    expected = 4 * h * w * channels**2 + 2 * (h * w) ** 2 * channels
    tokens = torch.randn(1, h * w, channels)
    assert profile(MultiHeadAttention(channels, 3), inputs=tokens)["macs"] == expected
    assert profile(WindowAttention(channels, 3, window_size=(h, w)), inputs=tokens)["macs"] == expected
    w_msa = 4 * h * w * channels**2 + 2 * 7**2 * h * w * channels
    assert expected - w_msa == 2 * (h * w - 7**2) * h * w * channels  # the quadratic term windows remove


class Attend(nn.Module):
    def __init__(self, fused: bool, mask: torch.Tensor | None = None):
        super().__init__()
        self.fused, self.mask = fused, mask

    def forward(self, q, k, v):
        if self.fused:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=self.mask)
        logits = q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5
        if self.mask is not None:
            logits = logits + self.mask
        return logits.softmax(-1) @ v


@pytest.mark.parametrize("with_mask", [False, True])
def test_sdpa_on_cpu_is_counted_like_the_explicit_matmuls(with_mask):
    # PyTorch's counter leaves the CPU flash kernel at 0; ours counts q @ k^T and weights @ v
    q, k, v = torch.randn(2, 3, 10, 8), torch.randn(2, 3, 12, 8), torch.randn(2, 3, 12, 5)
    mask = torch.randn(1, 3, 10, 12) if with_mask else None
    expected = 2 * 3 * 10 * 12 * (8 + 5)
    assert attention_macs(q.shape, k.shape, v.shape) == expected
    assert profile(Attend(True, mask), inputs=(q, k, v))["macs"] == expected
    assert profile(Attend(False, mask), inputs=(q, k, v))["macs"] == expected


def test_input_size_forms_and_mode():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Dropout(0.5), nn.Flatten(), nn.Linear(8 * 6 * 6, 10)).train()
    one = profile(model, (3, 8, 8))
    assert one == profile(model, (1, 3, 8, 8))
    assert one["params"] == 3 * 8 * 9 + 8 + 8 * 36 * 10 + 10
    assert one["macs"] == 8 * 36 * 3 * 9 + 8 * 36 * 10
    assert profile(model, (4, 3, 8, 8))["macs"] == 4 * one["macs"]
    assert model.training  # restored after counting in eval mode


@pytest.mark.parametrize(("args", "message"), [((), "exactly one of"), (((3, 0, 8),), r"input_size=\(3, 0, 8\)")])
def test_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        profile(nn.Linear(2, 2), *args)


def test_reexported_from_interop():
    # the submodule lit_vision.interop.profile is imported above; the package attribute must still be the function
    from lit_vision.interop import profile as reexported

    assert callable(reexported), "lit_vision.interop.profile is shadowed by its submodule; import the function eagerly"
    assert reexported(nn.Linear(4, 3), (2, 4)) == {"params": 15, "macs": 24}
