import pytest
import timm
import torch
from timm.models.swin_transformer import SwinTransformer as TimmSwinTransformer

from lit_vision.interop import timm as timm_interop
from lit_vision.interop.timm_swin import from_timm, to_timm
from lit_vision.nn.swin import PRESETS, SwinTransformer

# window 4 / patch 2 / embed 24 or 48 / 2-3 stages / images 32 and 28; 28 pads 14 -> 16 and 7 -> 8 inside stages,
# "window7_img28" has stages of 7x7 (one window), 4x4 and 2x2 (windows shrunk, bias tables 7x7 and 3x3, no shift)
SMALL_CONFIGS = {
    "window4_patch2_img32": dict(
        img_size=32, patch_size=2, window_size=4, embed_dim=24, depths=(2, 2, 2), num_heads=(2, 4, 8)
    ),
    "window4_patch2_img28_pad": dict(
        img_size=28, patch_size=2, window_size=4, embed_dim=48, depths=(2, 2), num_heads=(3, 6)
    ),
    "window7_patch4_img28_shrink": dict(
        img_size=28, patch_size=4, window_size=7, embed_dim=24, depths=(2, 2, 2), num_heads=(2, 4, 8)
    ),
    "digits_1ch_patch1_mlp2_nobias": dict(
        img_size=8,
        patch_size=1,
        in_chans=1,
        window_size=4,
        embed_dim=48,
        depths=(2, 2),
        num_heads=(3, 6),
        mlp_ratio=2.0,
        qkv_bias=False,
    ),
    "rect_28x36_window5_depth3": dict(
        img_size=(28, 36), patch_size=2, window_size=5, embed_dim=24, depths=(3, 1), num_heads=(2, 4)
    ),
}


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def randomize(model: torch.nn.Module) -> None:
    """Zero biases, unit LayerNorms and tiny bias tables would hide mistakes: perturb them (weights keep their init)."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "relative_position_bias_table" in name:
                param.normal_(0.0, 0.5)
            elif param.ndim == 1:
                param.add_(torch.randn_like(param) * 0.1)


def timm_swin(config: dict, num_classes: int = 10) -> TimmSwinTransformer:
    torch.manual_seed(0)
    model = TimmSwinTransformer(num_classes=num_classes, drop_path_rate=0.0, **config)
    randomize(model)
    return model.eval()


def image_batch(config: dict, batch: int = 2) -> torch.Tensor:
    size = config["img_size"]
    height, width = (size, size) if isinstance(size, int) else size
    return torch.randn(batch, config.get("in_chans", 3), height, width)


@torch.no_grad()
def test_swin_tiny_both_directions():
    torch.manual_seed(0)
    reference = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False).eval()
    randomize(reference)
    x = torch.randn(1, 3, 224, 224)
    ours = from_timm(reference)
    assert isinstance(ours, SwinTransformer) and not ours.training
    expected = reference(x)
    assert max_diff(ours(x), expected) <= 1e-5
    assert max_diff(to_timm(ours).eval()(x), expected) <= 1e-5


@pytest.mark.parametrize("name", SMALL_CONFIGS)
@torch.no_grad()
def test_small_configs_both_directions(name):
    config = SMALL_CONFIGS[name]
    reference = timm_swin(config)
    x = image_batch(config)
    expected = reference(x)
    ours = from_timm(reference)
    assert max_diff(ours(x), expected) <= 1e-5
    assert max_diff(ours.forward_features(x), reference.forward_features(x)) <= 1e-5
    back = to_timm(ours).eval()
    assert max_diff(back(x), expected) <= 1e-5
    assert back.layers[-1].blocks[0].window_size == reference.layers[-1].blocks[0].window_size


@pytest.mark.parametrize("name", ["window4_patch2_img32", "window4_patch2_img28_pad"])
def test_training_gradients_match(name):
    config = SMALL_CONFIGS[name]
    reference = timm_swin(config).train()
    ours = from_timm(reference)
    assert ours.training
    x = image_batch(config, batch=3)
    for model in (reference, ours):
        model(x).square().mean().backward()
    ours_params = dict(ours.named_parameters())
    for key, param in reference.named_parameters():
        ours_grad = ours_params[key.replace("head.fc.", "head.")].grad
        assert max_diff(ours_grad, param.grad) <= 1e-5, key


@pytest.mark.parametrize(
    "name", ["swin_tiny_patch4_window7_224", "swin_small_patch4_window7_224", "swin_base_patch4_window7_224"]
)
def test_preset_parameter_counts_equal_timm(name):
    with torch.device("meta"):  # no memory, no init cost
        ours, theirs = PRESETS[name](), timm.create_model(name, pretrained=False)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    assert set(ours.state_dict()) == {key.replace("head.fc.", "head.") for key in theirs.state_dict()}


def test_dispatch_through_interop_timm():
    config = SMALL_CONFIGS["window4_patch2_img32"]
    reference = timm_swin(config)
    ours = timm_interop.from_timm(reference)
    assert isinstance(ours, SwinTransformer)
    assert isinstance(timm_interop.to_timm(ours), TimmSwinTransformer)


def test_config_round_trips():
    config = SMALL_CONFIGS["window7_patch4_img28_shrink"]
    torch.manual_seed(0)
    ours = SwinTransformer(num_classes=5, drop_path_rate=0.3, drop_rate=0.1, attn_drop_rate=0.05, **config)
    back = from_timm(to_timm(ours))
    for attribute in (
        "img_size",
        "patch_size",
        "in_chans",
        "num_classes",
        "embed_dim",
        "depths",
        "num_heads",
        "window_size",
        "window_sizes",
    ):
        assert getattr(back, attribute) == getattr(ours, attribute), attribute
    assert back.head_drop.p == 0.1 and back.layers[0].blocks[0].attn.attn_drop_p == 0.05
    assert back.layers[-1].blocks[-1].drop_path1.drop_prob == pytest.approx(0.3)


# ---- input sizes timm rejects ------------------------------------------------------------------------------------------
# timm (strict_img_size=True, the default) asserts that the input equals img_size; with strict_img_size=False it keeps
# the windows (and shifts) fixed at construction and pads/masks per forward. Ours picks windows and shifts from each
# input's own stage sizes, so on any input it computes what timm computes when built for that input size.


def test_timm_rejects_other_sizes_ours_runs_them():
    config = SMALL_CONFIGS["window4_patch2_img32"]
    reference = timm_swin(config)
    with pytest.raises(AssertionError, match="doesn't match model"):
        reference(torch.randn(1, 3, 28, 28))
    ours = from_timm(reference)
    with torch.no_grad():
        assert ours(torch.randn(1, 3, 28, 30)).shape == (1, 10)
        assert ours.forward_features(torch.randn(1, 3, 27, 27)).shape == (1, 4, 4, 96)  # 27 -> 28 (patch), 14, 7, 4


@torch.no_grad()
def test_other_input_size_equals_timm_built_for_that_size():
    # built at 32 (stage maps 16, 8, 4); on 28 the maps are 14, 7, 4 (padded to windows of 4), as timm built at 28
    config = SMALL_CONFIGS["window4_patch2_img32"]
    ours = from_timm(timm_swin(config))
    reference_28 = TimmSwinTransformer(num_classes=10, **{**config, "img_size": 28}).eval()
    reference_28.load_state_dict(to_timm(ours).state_dict())
    x = torch.randn(2, 3, 28, 28)
    assert max_diff(ours(x), reference_28(x)) <= 1e-5


def _centre_crop_table(table: torch.Tensor, window: int, new_window: int) -> torch.Tensor:
    side, new_side = 2 * window - 1, 2 * new_window - 1
    start = window - new_window
    grid = table.view(side, side, -1)[start : start + new_side, start : start + new_side]
    return grid.reshape(new_side * new_side, -1)


@torch.no_grad()
def test_smaller_input_shrinks_windows_like_timm_built_for_it():
    # on 12x12 the maps are 6 (window 4, padded to 8, shifted), 3 and 2 (one window each, no shift): timm built at 12
    # has 3x3 / 2x2 windows with smaller bias tables, which hold the centres of ours
    config = SMALL_CONFIGS["window4_patch2_img32"]
    ours = from_timm(timm_swin(config))
    reference_12 = TimmSwinTransformer(num_classes=10, **{**config, "img_size": 12}).eval()
    state = to_timm(ours).state_dict()
    for key, value in reference_12.state_dict().items():
        if key.endswith("relative_position_bias_table") and value.shape != state[key].shape:
            new_window = (int(value.shape[0] ** 0.5) + 1) // 2
            state[key] = _centre_crop_table(state[key], 4, new_window)
    reference_12.load_state_dict(state)
    x = torch.randn(2, 3, 12, 12)
    assert max_diff(ours(x), reference_12(x)) <= 1e-5


def test_image_not_divisible_by_patch_is_padded_where_timm_crops():
    # timm's conv embedding drops the last rows/columns (floor) when img_size is not a multiple of the patch;
    # ours zero-pads to the next multiple (timm's dynamic_img_pad behaviour), so both just run with their own grid
    config = dict(SMALL_CONFIGS["window4_patch2_img32"], img_size=31)
    reference = timm_swin(config)
    assert reference.forward_features(torch.randn(1, 3, 31, 31)).shape == (1, 4, 4, 96)  # 15 -> 8 -> 4
    ours = from_timm(reference)
    with torch.no_grad():
        assert ours.forward_features(torch.randn(1, 3, 31, 31)).shape == (1, 4, 4, 96)  # 16 -> 8 -> 4
        padded = torch.zeros(1, 3, 32, 32)
        padded[..., :31, :31] = torch.randn(1, 3, 31, 31)
        assert max_diff(ours(padded[..., :31, :31]), ours(padded)) <= 1e-5


def test_unsupported_timm_variants_raise():
    reference = TimmSwinTransformer(
        img_size=32,
        patch_size=2,
        window_size=4,
        embed_dim=24,
        depths=(2, 2),
        num_heads=(2, 4),
        num_classes=10,
        global_pool="max",
    )
    with pytest.raises(ValueError, match="global_pool='max' is not supported"):
        from_timm(reference)
