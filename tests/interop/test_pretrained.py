"""`pretrained` sources load into our models with outputs equal to timm's, at the same and at a new size.

Weights come from small randomly initialised timm models, saved in each supported layout: timm's offline `local-dir`
(`save_for_hf`, safetensors and pytorch_model.bin), a .safetensors file, a .pth file ({"model": ...} as the official
Swin / DeiT releases have it), the official Swin layout (downsampling at the end of a stage), and a lit-vision .ckpt.
The reference at a new size / window / class count / channel count is timm's own model created from the same weights
at that size (`timm.create_model(..., pretrained=True, img_size=..., window_size=..., num_classes=..., in_chans=...)`).
"""

import re
from pathlib import Path

import pytest
import safetensors.torch
import timm
import torch
from timm.models import save_for_hf

from lit_vision.interop.resize import resample_relative_position_table
from lit_vision.models.convmixer import ConvMixerClassifier
from lit_vision.models.swin import SwinClassifier
from lit_vision.models.vit import ViTClassifier

TOL = 1e-5
VIT = dict(img_size=32, patch_size=4, embed_dim=32, depth=2, num_heads=2, num_classes=7)
SWIN = dict(img_size=32, patch_size=2, window_size=4, embed_dim=16, depths=(2, 2), num_heads=(2, 4), num_classes=7)
# (image size, window, classes, channels) of the fine-tuning run; the first is the pretrained configuration
VIT_RUNS = [(32, None, 7, 3), (48, None, 5, 3), (24, None, 7, 1), (64, None, 3, 2)]
SWIN_RUNS = [(32, 4, 7, 3), (48, 6, 5, 3), (32, 8, 5, 1)]


def _timm_vit() -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model("vit_tiny_patch16_224", **VIT).eval()


def _timm_swin() -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model("swin_tiny_patch4_window7_224", **SWIN).eval()


def _official_swin_state(timm_model: torch.nn.Module) -> dict:
    """The layout of the official Swin release: downsampling at the end of stage i, classifier `head`, index
    buffers and shift masks saved."""
    out = {}
    for key, value in timm_model.state_dict().items():
        key = re.sub(r"layers\.(\d+)\.downsample", lambda m: f"layers.{int(m.group(1)) - 1}.downsample", key)
        out[key.replace("head.fc.", "head.")] = value
    for name, module in timm_model.named_modules():
        if hasattr(module, "relative_position_index"):
            out[f"{name}.relative_position_index"] = module.relative_position_index
    return out


def _write(layout: str, timm_model: torch.nn.Module, tmp_path: Path) -> str:
    """Save `timm_model` in `layout`; returns the `pretrained` source string."""
    if layout == "local-dir-safetensors":
        save_for_hf(timm_model, tmp_path / "hf", safe_serialization=True)
        return f"local-dir:{tmp_path / 'hf'}"
    if layout == "local-dir-bin":
        save_for_hf(timm_model, tmp_path / "hf")
        assert (tmp_path / "hf" / "pytorch_model.bin").is_file()
        return f"local-dir:{tmp_path / 'hf'}"
    if layout == "safetensors":
        safetensors.torch.save_file(timm_model.state_dict(), tmp_path / "weights.safetensors")
        return str(tmp_path / "weights.safetensors")
    if layout == "pth":
        torch.save({"model": timm_model.state_dict(), "epoch": 3}, tmp_path / "weights.pth")
        return str(tmp_path / "weights.pth")
    if layout == "official-swin":
        torch.save({"model": _official_swin_state(timm_model)}, tmp_path / "swin_official.pth")
        return str(tmp_path / "swin_official.pth")
    raise AssertionError(layout)


def _timm_reference(source: str, arch: str, arch_args: dict, **size) -> torch.nn.Module:
    """timm's own model, created from the same weights at the run's size (timm resizes them itself)."""
    torch.manual_seed(1)
    if source.startswith("local-dir:"):
        return timm.create_model(source, pretrained=True, **size).eval()
    args = {**arch_args, **size}
    return timm.create_model(arch, pretrained=True, pretrained_cfg_overlay=dict(file=source), **args).eval()


def _max_diff(ours: torch.nn.Module, theirs: torch.nn.Module, channels: int, size: int) -> float:
    x = torch.randn(2, channels, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return (ours.forward_features(x) - theirs.forward_features(x)).abs().max().item()


@pytest.mark.parametrize("layout", ["local-dir-safetensors", "local-dir-bin", "safetensors", "pth"])
def test_vit_matches_timm_at_same_and_new_sizes(layout, tmp_path):
    source = _write(layout, _timm_vit(), tmp_path)
    arch = {k: v for k, v in VIT.items() if k not in ("img_size", "num_classes")}
    for size, _, classes, chans in VIT_RUNS:
        ours = ViTClassifier(
            image_size=size, in_chans=chans, num_classes=classes, patch_size=4, embed_dim=32, depth=2, num_heads=2,
            pretrained=source,
        )  # fmt: skip
        report = ours.load_pretrained()
        theirs = _timm_reference(
            source, "vit_tiny_patch16_224", arch, img_size=size, num_classes=classes, in_chans=chans
        )
        assert _max_diff(ours.net.eval(), theirs, chans, size) <= TOL
        if size != 32:
            assert f"position embedding 8×8 → {size // 4}×{size // 4}" in report
        assert ("head 7 → " in report) == (classes != 7)
        assert ("input channels 3 → " in report) == (chans != 3)


@pytest.mark.parametrize("layout", ["local-dir-safetensors", "local-dir-bin", "safetensors", "pth", "official-swin"])
def test_swin_matches_timm_at_same_and_new_windows(layout, tmp_path):
    source = _write(layout, _timm_swin(), tmp_path)
    arch = {k: v for k, v in SWIN.items() if k not in ("img_size", "window_size", "num_classes")}
    for size, window, classes, chans in SWIN_RUNS:
        ours = SwinClassifier(
            image_size=size, in_chans=chans, num_classes=classes, window_size=window, patch_size=2, embed_dim=16,
            depths=(2, 2), num_heads=(2, 4), pretrained=source,
        )  # fmt: skip
        report = ours.load_pretrained()
        theirs = _timm_reference(
            source, "swin_tiny_patch4_window7_224", arch, img_size=size, window_size=window, num_classes=classes,
            in_chans=chans,
        )  # fmt: skip
        assert _max_diff(ours.net.eval(), theirs, chans, size) <= TOL, (size, window)
        assert (f"7×7 → {2 * window - 1}×{2 * window - 1}" in report) == (window != 4)


def test_swin_table_resampling_equals_timm():
    from timm.layers import resize_rel_pos_bias_table

    table = torch.randn(13 * 13, 3, generator=torch.Generator().manual_seed(0))
    for window in ((12, 12), (4, 4), (7, 7), (5, 9)):
        ours = resample_relative_position_table(table, window)
        shape = ((2 * window[0] - 1) * (2 * window[1] - 1), 3)
        theirs = resize_rel_pos_bias_table(table, new_window_size=window, new_bias_shape=shape)
        assert ours.shape == theirs.shape
        assert (ours - theirs).abs().max().item() <= 1e-6


def _small_timm_convmixer(num_classes: int = 7, in_chans: int = 3) -> torch.nn.Module:
    from timm.models.convmixer import ConvMixer

    return ConvMixer(dim=32, depth=2, kernel_size=3, patch_size=4, num_classes=num_classes, in_chans=in_chans)


@pytest.mark.parametrize("layout", ["safetensors", "pth"])
def test_convmixer_matches_timm_with_new_classes_and_channels(layout, tmp_path):
    from timm.models import load_pretrained

    torch.manual_seed(0)
    source = _write(layout, _small_timm_convmixer().eval(), tmp_path)
    for size, classes, chans in ((32, 7, 3), (24, 5, 1), (32, 4, 2)):
        ours = ConvMixerClassifier(
            image_size=size, in_chans=chans, num_classes=classes, dim=32, depth=2, kernel_size=3, patch_size=4,
            act_layer="gelu", pretrained=source,
        )  # fmt: skip
        ours.load_pretrained()
        theirs = _small_timm_convmixer(classes, chans)
        cfg = dict(file=source, num_classes=7, input_size=(3, 32, 32), first_conv="stem.0", classifier="head")
        load_pretrained(theirs, cfg, num_classes=classes, in_chans=chans)  # timm's own adaptation path
        ours.net.eval(), theirs.eval()
        assert _max_diff(ours.net, theirs, chans, size) <= TOL


def test_convmixer_768_32_local_dir_at_a_small_image(tmp_path):
    """The full timm architecture (no small preset exists) from timm's local-dir, run on 28-pixel images."""
    torch.manual_seed(0)
    save_for_hf(timm.create_model("convmixer_768_32"), tmp_path / "hf")
    source = f"local-dir:{tmp_path / 'hf'}"
    ours = ConvMixerClassifier(
        image_size=28, num_classes=10, dim=768, depth=32, kernel_size=7, patch_size=7, act_layer="relu",
        pretrained=source,
    )  # fmt: skip
    report = ours.load_pretrained()
    assert "head 1000 → 10 classes (re-initialized)" in report
    theirs = timm.create_model(source, pretrained=True, num_classes=10).eval()
    assert _max_diff(ours.net.eval(), theirs, 3, 28) <= TOL


def test_lightning_checkpoint_starts_a_new_task(tmp_path):
    """A lit-vision .ckpt (weights of an earlier run) loads into a run with other classes."""
    earlier = ViTClassifier(image_size=32, num_classes=7, patch_size=4, embed_dim=32, depth=2, num_heads=2)
    state = {f"net.{k}": v for k, v in earlier.net.state_dict().items()}
    state["metrics.train_metrics.acc.tp"] = torch.zeros(())
    torch.save({"state_dict": state, "normalization": {"mean": [0.2], "std": [0.3]}}, tmp_path / "run.ckpt")
    ours = ViTClassifier(
        image_size=32, num_classes=3, patch_size=4, embed_dim=32, depth=2, num_heads=2,
        pretrained=str(tmp_path / "run.ckpt"),
    )  # fmt: skip
    report = ours.load_pretrained()
    assert report.startswith(f"pretrained {tmp_path / 'run.ckpt'}: ") and "head 7 → 3 classes" in report
    for key, value in earlier.net.state_dict().items():
        if not key.startswith("head."):
            assert torch.equal(ours.net.state_dict()[key], value), key

    from lit_vision.interop.pretrained import pretrained_normalization

    assert pretrained_normalization(str(tmp_path / "run.ckpt")) == ((0.2,), (0.3,))
