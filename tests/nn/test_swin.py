import pytest
import torch

from lit_vision.nn.swin import (
    MASK_VALUE,
    PRESETS,
    PatchMerging,
    SwinBlock,
    SwinTransformer,
    WindowAttention,
    relative_position_index,
    shifted_window_mask,
    window_order,
    window_partition,
    window_reverse,
)


def small_swin(**kwargs) -> SwinTransformer:
    torch.manual_seed(0)
    config = dict(img_size=32, patch_size=2, window_size=4, embed_dim=24, depths=(2, 2, 2), num_heads=(2, 4, 8))
    return SwinTransformer(**{"num_classes": 10, "drop_path_rate": 0.0, **config, **kwargs}).eval()


def params_of(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---- building blocks -------------------------------------------------------------------------------------------------


def test_window_partition_and_reverse_roundtrip():
    x = torch.randn(2, 8, 12, 5)
    windows = window_partition(x, (4, 3))
    assert windows.shape == (2 * 2 * 4, 12, 5)
    # first window is the top-left 4x3 block in row-major order, the second its right neighbour
    torch.testing.assert_close(windows[0], x[0, :4, :3].reshape(12, 5))
    torch.testing.assert_close(windows[1], x[0, :4, 3:6].reshape(12, 5))
    torch.testing.assert_close(window_reverse(windows, (4, 3), 8, 12), x)


def test_relative_position_index_covers_the_table():
    index = relative_position_index((7, 7))
    assert index.shape == (49, 49) and index.dtype == torch.long
    assert index.min() == 0 and index.max() == 13 * 13 - 1 and index.unique().numel() == (2 * 7 - 1) ** 2
    centre = 6 * 13 + 6  # offset (0, 0)
    assert (index.diagonal() == centre).all()
    torch.testing.assert_close(index + index.T, torch.full_like(index, 2 * centre))  # (dy, dx) vs (-dy, -dx)


def test_relative_position_index_of_a_smaller_window_reads_the_table_centre():
    small, large = relative_position_index((3, 3), (7, 7)), relative_position_index((7, 7))
    inner = torch.tensor([i * 7 + j for i in range(2, 5) for j in range(2, 5)])  # centre 3x3 of a 7x7 window
    torch.testing.assert_close(small, large[inner][:, inner])


def test_shifted_window_mask_regions():
    mask = shifted_window_mask(8, 8, (4, 4), (2, 2))
    assert mask.shape == (4, 16, 16)
    assert set(mask.unique().tolist()) == {0.0, MASK_VALUE}
    assert (mask[0] == 0).all()  # top-left window holds one image region
    # bottom-right window: four regions of 2x2 tokens; token (0, 0) sees only its own region
    allowed = (mask[3][0] == 0).view(4, 4)
    expected = torch.zeros(4, 4, dtype=torch.bool)
    expected[:2, :2] = True
    assert torch.equal(allowed, expected)
    assert torch.equal(mask, mask.transpose(1, 2))


def test_window_order_is_roll_then_partition():
    order = window_order(8, 8, (4, 4), (2, 2))
    raster = torch.arange(64).view(1, 8, 8, 1)
    expected = window_partition(torch.roll(raster, (-2, -2), (1, 2)), (4, 4)).flatten()
    assert torch.equal(order, expected) and order.sort().values.equal(torch.arange(64))


def test_patch_merging_concatenates_x0_x1_x2_x3():
    torch.manual_seed(0)
    merge = PatchMerging(dim=3)
    x = torch.randn(2, 4, 6, 3)
    x0, x1, x2, x3 = x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]
    expected = merge.reduction(merge.norm(torch.cat([x0, x1, x2, x3], dim=-1)))
    torch.testing.assert_close(merge(x), expected)
    assert merge.reduction.bias is None and merge.reduction.weight.shape == (6, 12)
    assert merge(torch.randn(2, 5, 7, 3)).shape == (2, 3, 4, 6)  # odd sizes are padded


def test_window_attention_sdpa_equals_explicit_softmax():
    torch.manual_seed(0)
    attn = WindowAttention(dim=24, num_heads=3, window_size=(4, 4)).eval()
    with torch.no_grad():
        attn.relative_position_bias_table.normal_()
    x = torch.randn(2 * 4, 16, 24)
    mask = shifted_window_mask(8, 8, (4, 4), (2, 2))
    with torch.no_grad():
        for shift_mask in (None, mask):
            fused = attn(x, (4, 4), shift_mask)
            explicit, weights = attn(x, (4, 4), shift_mask, need_weights=True)
            torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(weights.sum(-1), torch.ones(8, 3, 16))
    # masked pairs get (almost) no weight: exp(-100) underflows
    assert weights.view(2, 4, 3, 16, 16)[:, 3][..., mask[3] < 0].max() < 1e-30


def test_model_sdpa_path_equals_explicit_path():
    model = small_swin()
    x = torch.randn(2, 3, 32, 32)
    attentions = [m for m in model.modules() if isinstance(m, WindowAttention)]
    outputs, table_grads = [], []
    for fused in (True, False):
        for attention in attentions:
            attention.fused_attn = fused
        model.zero_grad()
        outputs.append(model(x))  # with autograd on: the CPU default would pick the explicit path
        outputs[-1].logsumexp(-1).sum().backward()
        table_grads.append(attentions[1].relative_position_bias_table.grad)
    torch.testing.assert_close(outputs[0], outputs[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(table_grads[0], table_grads[1], atol=1e-5, rtol=1e-4)


# ---- model -----------------------------------------------------------------------------------------------------------


def test_shapes_and_nhwc_features():
    model = small_swin()
    x = torch.randn(2, 3, 32, 32)
    features = model.forward_features(x)
    assert features.shape == (2, 4, 4, 96)  # 32 / 2 = 16 tokens per side, merged twice; NHWC
    assert model.forward_head(features, pre_logits=True).shape == (2, 96)
    assert model(x).shape == (2, 10)
    assert small_swin(num_classes=0)(x).shape == (2, 96)


def test_stage_windows_shrink_like_the_reference():
    # 28 / 4 = 7 tokens: stage 0 uses one 7x7 window, then 4x4 and 2x2 maps shrink the window and drop the shift
    assert SwinTransformer.stage_windows(28, 4, 7, 3) == [(7, 7), (4, 4), (2, 2)]
    model = SwinTransformer(img_size=28, patch_size=4, embed_dim=24, depths=(2, 2, 2), num_heads=(2, 4, 8))
    tables = [stage.blocks[0].attn.relative_position_bias_table.shape for stage in model.layers]
    assert tables == [(13 * 13, 2), (7 * 7, 4), (3 * 3, 8)]
    shifted_block = model.layers[0].blocks[1]
    assert shifted_block.window_and_shift(7, 7) == ((7, 7), (0, 0))  # map <= window: no shift
    assert shifted_block.window_and_shift(14, 9) == ((7, 7), (3, 3))
    assert shifted_block.window_and_shift(14, 5) == ((7, 5), (3, 0))


def roll_partition_attention(block: SwinBlock, x: torch.Tensor) -> torch.Tensor:
    """Reference W-MSA / SW-MSA of a tiled map: roll, partition, attend, reverse, roll back."""
    _, height, width, channels = x.shape
    window, shift = block.window_and_shift(height, width)
    mask = shifted_window_mask(height, width, window, shift) if shift != (0, 0) else None
    rolled = torch.roll(x, (-shift[0], -shift[1]), (1, 2))
    out = window_reverse(block.attn(window_partition(rolled, window), window, mask), window, height, width)
    return torch.roll(out, shift, (1, 2))


@pytest.mark.parametrize("shifted", [False, True])
def test_gathered_window_attention_equals_roll_and_partition(shifted):
    # the one-gather path of a tiled map: same output and gradients as roll + partition + reverse + roll back
    torch.manual_seed(0)
    block = SwinBlock(dim=12, num_heads=3, window_size=(4, 4), shifted=shifted)
    with torch.no_grad():
        block.attn.relative_position_bias_table.normal_()
    x = torch.randn(2, 8, 12, 12, requires_grad=True)
    results = []
    for attend in (lambda t: block._attention(t, False)[0], lambda t: roll_partition_attention(block, t)):
        block.zero_grad()
        x.grad = None
        out = attend(x)
        out.square().sum().backward()
        results.append((out, x.grad, block.attn.relative_position_bias_table.grad))
    for gathered, reference in zip(*results):
        torch.testing.assert_close(gathered, reference, atol=1e-6, rtol=1e-5)
    with torch.no_grad():  # the attention maps of both paths are the same windows in the same order
        _, weights = block(x, need_weights=True)
        assert weights.shape == (2, 6, 3, 16, 16)


def test_any_input_size_runs():
    model = small_swin()
    with torch.no_grad():
        for height, width in [(28, 28), (30, 26), (17, 33), (8, 8), (5, 3), (1, 1), (64, 48)]:
            features = model.forward_features(torch.randn(1, 3, height, width))
            expected = SwinTransformer.stage_resolutions((height, width), 2, 3)[-1]
            assert features.shape == (1, *expected, 96), (height, width)
            assert torch.isfinite(features).all()


def test_training_step_with_drop_path_and_padding():
    model = small_swin(drop_path_rate=0.2, attn_drop_rate=0.1, proj_drop_rate=0.1, drop_rate=0.1).train()
    for size in (32, 28):
        model.zero_grad()
        model(torch.randn(4, 3, size, size)).logsumexp(-1).mean().backward()
        grads = [p.grad for p in model.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert model.layers[0].blocks[0].attn.relative_position_bias_table.grad.abs().sum() > 0


def test_inference_mode_then_training():
    # Lightning validates (under inference_mode) before it trains: masks, orders and indices must not leak across
    model = small_swin()
    x = torch.randn(2, 3, 12, 12)  # maps 6 (padded, shifted), 3 and 2 (windows shrunk)
    with torch.inference_mode():
        model(x)
        model(torch.randn(2, 3, 32, 32))
    model.train()
    model(x).sum().backward()
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    assert model.layers[2].blocks[0].attn.relative_position_bias_table.grad is not None


def test_drop_path_rule_is_linear_over_all_blocks():
    model = small_swin(drop_path_rate=0.5)
    blocks = [block for stage in model.layers for block in stage.blocks]
    rates = [getattr(block.drop_path1, "drop_prob", 0.0) for block in blocks]
    torch.testing.assert_close(torch.tensor(rates), torch.linspace(0, 0.5, 6))


def test_attention_maps_per_window():
    model = small_swin()
    maps = model.get_attention_maps(torch.randn(2, 3, 32, 32))
    assert len(maps) == 6
    # stage 0: 16x16 tokens in 4x4 windows = 16 windows of 16 tokens; last stage: one 4x4 window
    assert maps[0].shape == (2, 16, 2, 16, 16) and maps[1].shape == (2, 16, 2, 16, 16)
    assert maps[-1].shape == (2, 1, 8, 16, 16)
    for weights in maps:
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
    # the shifted block's bottom-right window mixes regions, so some pairs are masked out
    assert (maps[1][:, -1] < 1e-30).any() and not (maps[0] < 1e-30).any()


def test_no_weight_decay_names_every_bias_table():
    model = small_swin()
    names = model.no_weight_decay()
    assert len(names) == 6 and all(name.endswith("attn.relative_position_bias_table") for name in names)
    assert names <= dict(model.named_parameters()).keys()


def test_index_buffer_is_registered_but_not_saved():
    model = small_swin()
    assert "layers.0.blocks.0.attn.relative_position_index" in dict(model.named_buffers())
    assert not any("relative_position_index" in key for key in model.state_dict())


def test_parameter_counts_match_the_design_table():
    with torch.device("meta"):
        assert params_of(PRESETS["swin_t"]()) == 28_288_354
        assert params_of(PRESETS["swin_s"]()) == 49_606_258
        assert params_of(PRESETS["swin_tiny_patch4_window7_224"]()) == 28_288_354


def test_presets():
    assert {"swin_t", "swin_s", "swin_b", "swin_tiny_patch4_window7_224", "swin_digits"} <= PRESETS.keys()
    model = PRESETS["swin_digits"]().eval()
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 10)  # CIFAR-sized inputs run too
    assert PRESETS["swin_digits"](in_chans=3, img_size=32).window_sizes == [(4, 4), (4, 4)]


# ---- errors ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(num_heads=(2, 5, 8)), r"num_heads\[1\]=5 does not divide stage 1's width 48"),
        (dict(num_heads=(2, 4)), r"num_heads=\[2, 4\] needs one entry per stage"),
        (dict(depths=()), r"depths=\[\] must be a non-empty list"),
        (dict(window_size=0), r"window_size=0 must be a positive integer"),
        (dict(patch_size=0), r"patch_size=0 must be a positive integer"),
        (dict(drop_path_rate=1.0), r"drop_path_rate=1.0 must be in \[0, 1\)"),
        (dict(num_classes=-1), r"num_classes=-1 must be >= 0"),
    ],
)
def test_bad_arguments_raise_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=message) as error:
        small_swin(**kwargs)
    assert "\n" not in str(error.value)


def test_wrong_input_channels_raise_early():
    with pytest.raises(ValueError, match=r"not \(batch, 3, height, width\); pass images with in_chans=3"):
        small_swin()(torch.randn(2, 1, 32, 32))
