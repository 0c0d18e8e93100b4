import copy
import math

import pytest
import torch

from lit_vision.nn.vit import PRESETS, VisionTransformer, resize_pos_embed


def small_vit(**kwargs) -> VisionTransformer:
    torch.manual_seed(0)
    config = dict(img_size=32, patch_size=8, in_chans=3, num_classes=10, embed_dim=48, depth=2, num_heads=3)
    return VisionTransformer(**{**config, **kwargs}).eval()


def test_shapes_token_pooling():
    model = small_vit()
    x = torch.randn(2, 3, 32, 32)
    tokens = model.forward_features(x)
    assert tokens.shape == (2, 1 + 16, 48)
    assert model.forward_head(tokens, pre_logits=True).shape == (2, 48)
    assert model(x).shape == (2, 10)


def test_shapes_avg_pooling_without_class_token():
    model = small_vit(global_pool="avg", class_token=False)
    assert model.cls_token is None and model.pos_embed.shape == (1, 16, 48)
    assert isinstance(model.norm, torch.nn.Identity) and isinstance(model.fc_norm, torch.nn.LayerNorm)
    assert model.forward_features(torch.randn(2, 3, 32, 32)).shape == (2, 16, 48)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_num_classes_zero_gives_features():
    model = small_vit(num_classes=0)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 48)


def test_other_resolutions_and_channels_last():
    model = small_vit()
    assert model(torch.randn(2, 3, 48, 64)).shape == (2, 10)
    x = torch.randn(2, 3, 32, 32)
    expected = model(x)
    torch.testing.assert_close(model(x.to(memory_format=torch.channels_last)), expected, atol=1e-5, rtol=1e-5)


def test_resize_pos_embed_keeps_prefix_and_identity():
    pos = torch.randn(1, 1 + 16, 8)
    assert resize_pos_embed(pos, (4, 4)) is pos
    resized = resize_pos_embed(pos, (6, 2))
    assert resized.shape == (1, 1 + 12, 8)
    torch.testing.assert_close(resized[:, :1], pos[:, :1])
    # a constant grid stays constant under bicubic resampling
    flat = torch.ones(1, 9, 8)
    torch.testing.assert_close(resize_pos_embed(flat, (5, 5), num_prefix_tokens=0), torch.ones(1, 25, 8))


def test_resize_pos_embed_rejects_non_square_without_old_grid():
    with pytest.raises(ValueError, match="old_grid"):
        resize_pos_embed(torch.randn(1, 1 + 12, 8), (4, 4))


def test_load_state_dict_at_new_resolution_resamples_pos_embed():
    model_32 = small_vit()
    model_48 = small_vit(img_size=48)
    model_48.load_state_dict(model_32.state_dict())
    expected = resize_pos_embed(model_32.pos_embed.detach(), (6, 6), (4, 4))
    torch.testing.assert_close(model_48.pos_embed.detach(), expected)
    # loading at 48 equals running the 32-px model at 48 (forward-time interpolation)
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(model_48(x), model_32(x), atol=1e-5, rtol=1e-5)


def test_no_weight_decay_names_exist():
    model = small_vit()
    names = dict(model.named_parameters())
    assert model.no_weight_decay() == {"pos_embed", "cls_token"}
    assert model.no_weight_decay() <= set(names)


def test_stochastic_depth_rule_and_eval_determinism():
    model = small_vit(depth=4, drop_path_rate=0.3)
    rates = [block.drop_path1.drop_prob if hasattr(block.drop_path1, "drop_prob") else 0.0 for block in model.blocks]
    assert rates == pytest.approx([0.0, 0.1, 0.2, 0.3])
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(model(x), model(x))
    model.train()
    torch.manual_seed(1)
    a = model(x)
    torch.manual_seed(2)
    assert not torch.allclose(a, model(x))


def test_layerscale_and_dropouts_are_built():
    model = small_vit(init_values=1e-4, drop_rate=0.1, pos_drop_rate=0.1, proj_drop_rate=0.1, attn_drop_rate=0.1)
    block = model.blocks[0]
    assert torch.all(block.ls1.gamma == 1e-4) and torch.all(block.ls2.gamma == 1e-4)
    assert model.head_drop.p == model.pos_drop.p == block.mlp.drop1.p == block.attn.proj_drop.p == 0.1
    assert block.attn.attn_drop_p == 0.1


def test_gradients_reach_embeddings():
    model = small_vit().train()
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    for name in ("pos_embed", "cls_token", "patch_embed.proj.weight", "head.weight"):
        assert dict(model.named_parameters())[name].grad is not None, name


def test_attention_maps_match_fused_forward():
    model = small_vit(init_values=0.5)
    x = torch.randn(2, 3, 32, 32)
    maps = model.get_attention_maps(x)
    assert len(maps) == 2 and all(m.shape == (2, 3, 17, 17) for m in maps)
    torch.testing.assert_close(maps[0].sum(-1), torch.ones(2, 3, 17))
    tokens = model._embed(x)
    for block in model.blocks:
        explicit, _ = block.forward_with_attention(tokens)
        tokens = block(tokens)
        torch.testing.assert_close(explicit, tokens, atol=1e-5, rtol=1e-5)


def test_deepcopy_keeps_load_hook():
    clone = copy.deepcopy(small_vit(img_size=48))
    clone.load_state_dict(small_vit().state_dict())
    assert clone.pos_embed.shape == (1, 37, 48)


def test_param_counts_match_design_table():
    expected = {"vit_tiny_patch16_224": 5.717e6, "vit_small_patch16_224": 22.051e6, "vit_base_patch16_224": 86.568e6}
    for name, count in expected.items():
        with torch.device("meta"):
            model = PRESETS[name]()
        assert math.isclose(sum(p.numel() for p in model.parameters()), count, abs_tol=500), name


def test_presets_accept_overrides():
    with torch.device("meta"):
        model = PRESETS["vit_tiny_patch16_224"](num_classes=10, img_size=32, drop_path_rate=0.1)
    assert model.head.out_features == 10 and model.patch_embed.grid_size == (2, 2)


def test_error_img_size_not_divisible_names_sizes():
    with pytest.raises(ValueError, match=r"img_size=30x30 .*patch_size=8x8.*24 or 32") as info:
        VisionTransformer(img_size=30, patch_size=8, embed_dim=24, depth=1, num_heads=2)
    assert "\n" not in str(info.value)


def test_error_input_not_divisible_names_sizes():
    with pytest.raises(ValueError, match=r"input size=36x32 .*patch_size=8x8.*32 or 40"):
        small_vit()(torch.randn(1, 3, 36, 32))


def test_error_wrong_channels():
    with pytest.raises(ValueError, match="in_chans=3"):
        small_vit()(torch.randn(1, 1, 32, 32))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(global_pool="max"), "global_pool='max'"),
        (dict(class_token=False), "class_token=True"),
        (dict(num_heads=5), "num_heads=5"),
        (dict(drop_path_rate=1.0), "drop_path_rate=1.0"),
        (dict(depth=0), "depth=0"),
    ],
)
def test_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        small_vit(**kwargs)
