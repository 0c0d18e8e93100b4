"""Fine-tuning recipe: layer-decay groups equal timm's, a frozen backbone, one-line errors, pretrained normalization."""

import re

import pytest
import timm
import torch
from timm.optim import param_groups_layer_decay

from lit_vision.interop import to_timm
from lit_vision.models.convmixer import ConvMixerClassifier
from lit_vision.models.swin import SwinClassifier
from lit_vision.models.timm import TimmClassifier
from lit_vision.models.vit import ViTClassifier

WEIGHT_DECAY = 0.05


def _optimizer(lr: float = 1e-3):
    return lambda params: torch.optim.AdamW(params, lr=lr, weight_decay=WEIGHT_DECAY)


MODELS = {
    "vit_token": lambda **kw: ViTClassifier(image_size=16, patch_size=4, embed_dim=32, depth=3, num_heads=2, **kw),
    "vit_avg": lambda **kw: ViTClassifier(
        image_size=16, patch_size=4, embed_dim=32, depth=2, num_heads=2, global_pool="avg", class_token=False, **kw
    ),
    "swin": lambda **kw: SwinClassifier(
        image_size=32, patch_size=2, window_size=4, embed_dim=16, depths=(2, 2, 2), num_heads=(2, 2, 4), **kw
    ),
    "convmixer": lambda **kw: ConvMixerClassifier(image_size=16, dim=16, depth=3, kernel_size=3, patch_size=4, **kw),
}


def _timm_name(net: torch.nn.Module):
    """Our parameter name -> the timm twin's (the interop conversion's key map)."""
    family = type(net).__name__
    if family == "SwinTransformer":
        from lit_vision.interop.timm_swin import _ours_to_timm_key

        return _ours_to_timm_key
    if family == "ConvMixer":
        from lit_vision.interop.timm_convmixer import _ours_to_timm_key

        return _ours_to_timm_key
    return lambda key: key


def _describe(groups, names):
    return [(sorted(names[id(p)] for p in g["params"]), round(g["lr_scale"], 12), g["weight_decay"]) for g in groups]


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("decay", [0.75, 0.65])
def test_layer_decay_groups_equal_timm(name, decay):
    model = MODELS[name](num_classes=10, layer_decay=decay, optimizer=_optimizer())
    optimizer = model.build_optimizer()
    twin = to_timm(model.net)
    to_timm_name = _timm_name(model.net)
    ours = _describe(optimizer.param_groups, {id(p): to_timm_name(n) for n, p in model.net.named_parameters()})
    nwd = twin.no_weight_decay() if hasattr(twin, "no_weight_decay") else ()
    timm_groups = param_groups_layer_decay(twin, WEIGHT_DECAY, no_weight_decay_list=nwd, layer_decay=decay)
    theirs = _describe(timm_groups, {id(p): n for n, p in twin.named_parameters()})
    assert ours == theirs
    assert len(ours) > 4
    top = max(g["lr_scale"] for g in optimizer.param_groups)
    assert top == 1.0
    for group in optimizer.param_groups:  # the LR each group starts from carries its scale
        assert group["lr"] == pytest.approx(1e-3 * group["lr_scale"])


def test_layer_decay_on_a_timm_model_uses_timms_groups():
    model = TimmClassifier(
        "vit_tiny_patch16_224", image_size=32, num_classes=10, layer_decay=0.7, optimizer=_optimizer(),
        model_kwargs=dict(patch_size=8, embed_dim=32, depth=2, num_heads=2),
    )  # fmt: skip
    scales = sorted({round(g["lr_scale"], 9) for g in model.build_optimizer().param_groups})
    assert scales == [round(0.7**k, 9) for k in (3, 2, 1, 0)]


def test_layer_decay_schedule_keeps_the_scales(tmp_path):
    """Through a Trainer: after warmup + cosine steps each group's LR is its scale times the head's."""
    from lightning import Trainer

    from lit_vision.data.digits import DigitsDataModule

    model = ViTClassifier(
        image_size=8, in_chans=1, patch_size=2, embed_dim=16, depth=2, num_heads=2, num_classes=10, layer_decay=0.5,
        warmup_epochs=1, optimizer=_optimizer(),
    )  # fmt: skip
    trainer = Trainer(max_epochs=2, limit_train_batches=3, limit_val_batches=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(model, DigitsDataModule(batch_size=16))
    groups = trainer.optimizers[0].param_groups
    head_lr = max(g["lr"] for g in groups)
    for group in groups:
        assert group["lr"] == pytest.approx(head_lr * group["lr_scale"])


@pytest.mark.parametrize("name", ["swin", "convmixer"])
def test_freeze_backbone_trains_the_head_only(name):
    torch.manual_seed(0)
    model = MODELS[name](num_classes=5, freeze="backbone", optimizer=_optimizer())
    optimizer = model.build_optimizer()
    trained = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert trained == {id(p) for p in model.net.head.parameters()}
    model.train()
    assert model.net.head.training and not any(m.training for n, m in model.net.named_children() if n != "head")
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    x = torch.randn(4, 3, model.image_size, model.image_size)
    loss = model(x).logsumexp(dim=1).mean()
    loss.backward()
    optimizer.step()
    after = model.net.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"head.weight", "head.bias"}  # BatchNorm statistics (ConvMixer) included


def test_bad_options_are_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match=r"freeze='all' is not supported"):
        MODELS["vit_token"](freeze="all")
    with pytest.raises(ValueError, match=r"layer_decay=1.5 must lie in \(0, 1\]"):
        MODELS["vit_token"](layer_decay=1.5)
    with pytest.raises(FileNotFoundError, match=r"pretrained='.*missing.safetensors' is not a file"):
        MODELS["vit_token"](pretrained=str(tmp_path / "missing.safetensors"))
    with pytest.raises(FileNotFoundError, match=r"has no config.json"):
        MODELS["vit_token"](pretrained=f"local-dir:{tmp_path}")


def _save_local_dir(timm_model, path):
    from timm.models import save_for_hf

    save_for_hf(timm_model, path)
    return f"local-dir:{path}"


def test_unadaptable_mismatch_names_the_tensor(tmp_path):
    torch.manual_seed(0)
    wide = timm.create_model("vit_tiny_patch16_224", img_size=16, patch_size=4, embed_dim=64, depth=2, num_heads=2)
    source = _save_local_dir(wide, tmp_path / "wide")
    model = MODELS["vit_token"](num_classes=10, pretrained=source)
    with pytest.raises(ValueError, match=r"pretrained tensor 'cls_token' has shape \(1, 1, 64\) but .* \(1, 1, 32\)"):
        model.load_pretrained()
    deeper = timm.create_model("vit_tiny_patch16_224", img_size=16, patch_size=4, embed_dim=32, depth=4, num_heads=2)
    model = MODELS["vit_token"](num_classes=10, pretrained=_save_local_dir(deeper, tmp_path / "deep"))
    with pytest.raises(
        ValueError, match=r"pretrained tensor 'blocks.3.norm1.weight' has no place in VisionTransformer"
    ):
        model.load_pretrained()
    swin = timm.create_model("swin_tiny_patch4_window7_224", img_size=32, patch_size=2, window_size=4, embed_dim=16,
                             depths=(2, 2), num_heads=(2, 4))  # fmt: skip
    model = MODELS["vit_token"](num_classes=10, pretrained=_save_local_dir(swin, tmp_path / "swin"))
    with pytest.raises(ValueError, match=r"is a timm SwinTransformer, but this model is a VisionTransformer"):
        model.load_pretrained()
    model = MODELS["vit_token"](num_classes=10, pretrained="no_such_model_xyz")
    with pytest.raises(ValueError, match=r"pretrained='no_such_model_xyz': timm could not load it"):
        model.load_pretrained()
    assert "\n" not in str(pytest.raises(ValueError, model.load_pretrained).value)


def test_pretrained_normalization_fills_the_datamodule(tmp_path):
    from lit_vision.interop.pretrained import fill_data_normalization, pretrained_normalization

    vit = timm.create_model("vit_tiny_patch16_224", img_size=16, patch_size=4, embed_dim=32, depth=1, num_heads=2)
    source = _save_local_dir(vit, tmp_path / "vit")  # an augreg ViT: 0.5 / 0.5
    assert pretrained_normalization(source) == ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert pretrained_normalization("swin_tiny_patch4_window7_224.ms_in22k")[0] == (0.485, 0.456, 0.406)
    data = {"mean": None, "std": None}
    assert fill_data_normalization({"pretrained": source}, data) and data["mean"] == [0.5, 0.5, 0.5]
    kept = {"mean": [0.1, 0.2, 0.3], "std": [1.0, 1.0, 1.0]}
    assert not fill_data_normalization({"pretrained": source}, kept) and kept["mean"] == [0.1, 0.2, 0.3]
    assert not fill_data_normalization({"pretrained": None}, {"mean": None, "std": None})


def test_report_line_is_logged_at_fit_start(tmp_path, caplog):
    from lightning import Trainer

    from lit_vision.data.digits import DigitsDataModule

    torch.manual_seed(0)
    timm_vit = timm.create_model("vit_tiny_patch16_224", img_size=8, patch_size=2, embed_dim=16, depth=1, num_heads=2,
                                 in_chans=3, num_classes=4)  # fmt: skip
    source = _save_local_dir(timm_vit, tmp_path / "vit")
    model = ViTClassifier(image_size=16, in_chans=1, patch_size=2, embed_dim=16, depth=1, num_heads=2, num_classes=10,
                          pretrained=source)  # fmt: skip
    trainer = Trainer(max_epochs=1, limit_train_batches=1, limit_val_batches=1, logger=False, enable_progress_bar=False,
                      enable_checkpointing=False, enable_model_summary=False, default_root_dir=tmp_path)  # fmt: skip
    with caplog.at_level("INFO"):
        trainer.fit(model, DigitsDataModule(batch_size=8, image_size=16))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("pretrained ")]
    assert len(lines) == 1
    assert re.fullmatch(
        r"pretrained local-dir:\S+: 18 tensors loaded; head 4 → 10 classes \(re-initialized\); input channels 3 → 1 "
        r"\(summed\); position embedding 4×4 → 8×8",
        lines[0],
    )
