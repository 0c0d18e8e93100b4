"""`pretrained` on FCCNClassifier (official FCCN checkpoints, converted by the existing key-layout converter) and on
TimmClassifier (timm's own local-dir / hf-hub names, files and lit-vision .ckpt files)."""

import timm
import torch
from timm.models import save_for_hf

from lit_vision.interop.fccn_official import to_official
from lit_vision.models.fccn import FCCNClassifier
from lit_vision.models.timm import TimmClassifier

FCCN = dict(arch="convnet", widths=[8, 8], image_size=8, in_chans=3)


def test_fccn_loads_an_official_checkpoint_with_a_new_head(tmp_path):
    torch.manual_seed(0)
    source_model = FCCNClassifier(num_classes=5, **FCCN)
    official = {f"module.{k}": v for k, v in to_official(source_model.net.state_dict()).items()}
    assert any("conv_real.weight" in k for k in official)
    torch.save({"state_dict": official, "epoch": 90}, tmp_path / "model_best.pth.tar")
    model = FCCNClassifier(num_classes=3, pretrained=str(tmp_path / "model_best.pth.tar"), **FCCN)
    report = model.load_pretrained()
    assert "head 5 → 3 classes (re-initialized)" in report
    ours, theirs = model.net.state_dict(), source_model.net.state_dict()
    same = [k for k in theirs if not k.startswith("classifier.")]
    assert same and all(torch.equal(ours[k], theirs[k]) for k in same)


def test_timm_classifier_takes_local_dir_and_ckpt_sources(tmp_path):
    torch.manual_seed(0)
    vit = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2)
    save_for_hf(vit, tmp_path / "vit")
    model = TimmClassifier("vit_tiny_patch16_224", pretrained=f"local-dir:{tmp_path / 'vit'}", image_size=32,
                           num_classes=4)  # fmt: skip
    reference = timm.create_model(f"local-dir:{tmp_path / 'vit'}", pretrained=True, num_classes=4)
    for key, value in reference.state_dict().items():
        if not key.startswith("head."):
            assert torch.equal(model.net.state_dict()[key], value), key
    assert model.net.head.out_features == 4 and "loaded by timm" in model.pretrained_report

    state = {f"net.{k}": v for k, v in model.net.state_dict().items()}
    torch.save({"state_dict": state}, tmp_path / "run.ckpt")
    kwargs = dict(patch_size=8, embed_dim=32, depth=2, num_heads=2)
    again = TimmClassifier("vit_tiny_patch16_224", pretrained=str(tmp_path / "run.ckpt"), image_size=32,
                           num_classes=4, model_kwargs=kwargs)  # fmt: skip
    assert again.load_pretrained().endswith("tensors loaded")
    assert all(torch.equal(again.net.state_dict()[k], v) for k, v in model.net.state_dict().items())
