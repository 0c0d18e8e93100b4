import pytest
import timm
import torch
from timm.layers import resample_abs_pos_embed
from timm.models.vision_transformer import VisionTransformer as TimmVisionTransformer

from lit_vision.interop import timm as timm_interop
from lit_vision.interop.timm_vit import from_timm, timm_vit_config, to_timm
from lit_vision.nn.vit import PRESETS, VisionTransformer, resize_pos_embed

SMALL_CONFIGS = {
    "patch8_img32": dict(img_size=32, patch_size=8, embed_dim=48, depth=2, num_heads=4, num_classes=7),
    "avg_no_cls_img48_layerscale": dict(
        img_size=48,
        patch_size=8,
        embed_dim=48,
        depth=3,
        num_heads=3,
        num_classes=5,
        global_pool="avg",
        class_token=False,
        init_values=0.1,
    ),
    "rect_patch4_mlp2_nobias_eps": dict(
        img_size=(16, 24),
        patch_size=4,
        in_chans=1,
        embed_dim=36,
        depth=3,
        num_heads=3,
        num_classes=10,
        mlp_ratio=2.0,
        qkv_bias=False,
        norm_eps=1e-5,
    ),
}


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def randomize_norms(model: torch.nn.Module) -> None:
    """LayerNorms start at (1, 0); random affine parameters make the comparison cover them."""
    for module in model.modules():
        if isinstance(module, torch.nn.LayerNorm):
            torch.nn.init.normal_(module.weight, 1.0, 0.2)
            torch.nn.init.normal_(module.bias, 0.0, 0.2)


@torch.no_grad()
def test_vit_tiny_both_directions():
    torch.manual_seed(0)
    reference = timm.create_model("vit_tiny_patch16_224", pretrained=False).eval()
    x = torch.randn(2, 3, 224, 224)
    ours = from_timm(reference)
    assert isinstance(ours, VisionTransformer) and not ours.training
    expected = reference(x)
    assert max_diff(ours(x), expected) <= 1e-5
    assert max_diff(to_timm(ours).eval()(x), expected) <= 1e-5


@torch.no_grad()
@pytest.mark.parametrize("name", list(SMALL_CONFIGS))
def test_small_configs_both_directions(name):
    config = SMALL_CONFIGS[name]
    torch.manual_seed(0)
    ours = VisionTransformer(**config).eval()
    randomize_norms(ours)
    size = config["img_size"]
    height, width = (size, size) if isinstance(size, int) else size
    x = torch.randn(3, config.get("in_chans", 3), height, width)

    reference = to_timm(ours).eval()
    assert max_diff(reference(x), ours(x)) <= 1e-5

    # the other direction starts from timm's own initialisation
    torch.manual_seed(1)
    reference = TimmVisionTransformer(**to_timm_kwargs(config)).eval()
    randomize_norms(reference)
    assert max_diff(from_timm(reference)(x), reference(x)) <= 1e-5


def to_timm_kwargs(config: dict) -> dict:
    kwargs = dict(config)
    eps = kwargs.pop("norm_eps", None)
    if eps is not None:
        from functools import partial

        from timm.layers import LayerNorm

        kwargs["norm_layer"] = partial(LayerNorm, eps=eps)
    return kwargs


def test_config_round_trip_reads_regularisation():
    config = dict(
        img_size=32,
        patch_size=8,
        embed_dim=48,
        depth=4,
        num_heads=3,
        num_classes=3,
        drop_rate=0.1,
        pos_drop_rate=0.05,
        proj_drop_rate=0.15,
        attn_drop_rate=0.2,
        drop_path_rate=0.3,
        init_values=1e-5,
    )
    ours = VisionTransformer(**config)
    read = timm_vit_config(to_timm(ours))
    assert read == {**read, **config, "img_size": (32, 32), "patch_size": (8, 8)}
    assert from_timm(to_timm(ours)).training


@torch.no_grad()
@pytest.mark.parametrize(("class_token", "pool"), [(True, "token"), (False, "avg")])
def test_pos_embed_interpolation_matches_timm(class_token, pool):
    torch.manual_seed(0)
    ours = VisionTransformer(
        img_size=32,
        patch_size=8,
        embed_dim=48,
        depth=2,
        num_heads=3,
        num_classes=4,
        class_token=class_token,
        global_pool=pool,
    ).eval()
    prefix = int(class_token)
    for grid in ((6, 6), (3, 5), (2, 2)):
        expected = resample_abs_pos_embed(ours.pos_embed, new_size=grid, old_size=(4, 4), num_prefix_tokens=prefix)
        torch.testing.assert_close(resize_pos_embed(ours.pos_embed, grid, (4, 4), prefix), expected, atol=0, rtol=0)
    reference = to_timm(ours, dynamic_img_size=True).eval()
    for height, width in ((48, 48), (24, 40), (16, 16)):
        x = torch.randn(2, 3, height, width)
        assert max_diff(ours(x), reference(x)) <= 1e-5


@pytest.mark.parametrize("name", list(PRESETS))
def test_param_counts_equal_timm(name):
    with torch.device("meta"):
        ours = PRESETS[name]()
        reference = timm.create_model(name, pretrained=False)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in reference.parameters())
    assert set(ours.state_dict()) == set(reference.state_dict())


@torch.no_grad()
def test_generic_dispatch_reaches_vit():
    torch.manual_seed(0)
    reference = TimmVisionTransformer(img_size=16, patch_size=4, embed_dim=24, depth=1, num_heads=2, num_classes=3)
    ours = timm_interop.from_timm(reference.eval())
    x = torch.randn(1, 3, 16, 16)
    assert max_diff(ours(x), reference(x)) <= 1e-5
    assert max_diff(timm_interop.to_timm(ours)(x), reference(x)) <= 1e-5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(reg_tokens=2), "reg_tokens"),
        (dict(global_pool="max"), "global_pool='max'"),
        (dict(pre_norm=True), "pre_norm"),
        (dict(qk_norm=True), "qk_norm"),
        (dict(act_layer="gelu_tanh"), "MLP"),
    ],
)
def test_unsupported_timm_features_raise(kwargs, match):
    reference = TimmVisionTransformer(img_size=16, patch_size=4, embed_dim=24, depth=1, num_heads=2, **kwargs)
    with pytest.raises(ValueError, match=match):
        from_timm(reference)


def test_wrong_types_raise():
    with pytest.raises(ValueError, match="VisionTransformer"):
        from_timm(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="VisionTransformer"):
        to_timm(torch.nn.Linear(2, 2))
