from types import SimpleNamespace

import pytest
import torch
from callback_fit import tiny_fit

from lit_vision.callbacks.attention_maps import AttentionMapLogger, _window_heatmap, attention_heatmaps
from lit_vision.models.classifier import ImageClassifier
from lit_vision.nn.swin import swin_digits, window_partition
from lit_vision.nn.vit import VisionTransformer


class NetClassifier(ImageClassifier):
    """ImageClassifier around a ready-made network."""

    def __init__(self, net: torch.nn.Module, **kwargs) -> None:
        super().__init__(**kwargs)
        self.net = net


def tiny_vit(**kwargs) -> VisionTransformer:
    torch.manual_seed(0)
    return VisionTransformer(
        img_size=8, patch_size=2, in_chans=1, num_classes=10, embed_dim=16, depth=3, num_heads=2, **kwargs
    )


def test_vit_class_token_maps_on_the_patch_grid():
    net = tiny_vit().eval()
    images = torch.randn(2, 1, 8, 8)
    heatmaps = attention_heatmaps(net, images)
    assert len(heatmaps) == 3 and all(h.shape == (2, 4, 4) for h in heatmaps)
    maps = net.get_attention_maps(images)
    expected = maps[-1].mean(dim=1)[:, 0, 1:].reshape(2, 4, 4)  # CLS row, patches only, mean over heads
    torch.testing.assert_close(heatmaps[-1], expected)


def test_vit_without_class_token_uses_attention_received():
    net = tiny_vit(class_token=False, global_pool="avg").eval()
    heatmaps = attention_heatmaps(net, torch.randn(2, 1, 8, 8))
    # each query's weights sum to 1, so the mean over queries of what every token receives sums to 1 too
    torch.testing.assert_close(heatmaps[0].sum(dim=(1, 2)), torch.ones(2))


def test_swin_maps_cover_each_stage_and_windows_sum_to_one():
    torch.manual_seed(0)
    net = swin_digits().eval()
    heatmaps = attention_heatmaps(net, torch.randn(2, 1, 8, 8))
    assert [tuple(h.shape) for h in heatmaps] == [(2, 8, 8), (2, 8, 8), (2, 4, 4), (2, 4, 4)]
    torch.testing.assert_close(heatmaps[0].sum(dim=(1, 2)), torch.full((2,), 4.0))  # four 4x4 windows
    torch.testing.assert_close(heatmaps[2].sum(dim=(1, 2)), torch.full((2,), 1.0))  # one window


@pytest.mark.parametrize(
    "height,width,window,shift", [(8, 8, (4, 4), (2, 2)), (6, 10, (4, 4), (2, 2)), (8, 8, (4, 4), (0, 0))]
)
def test_swin_windows_go_back_to_their_positions(height, width, window, shift):
    """Encode each token's original position, move it the way a Swin block does (roll, pad, partition into windows),
    and check that the heatmap puts every value back where it came from."""
    positions = torch.arange(height * width, dtype=torch.float32).view(1, height, width, 1)
    moved = torch.roll(positions, shifts=(-shift[0], -shift[1]), dims=(1, 2))
    pad_h, pad_w = (-height) % window[0], (-width) % window[1]
    moved = torch.nn.functional.pad(moved, (0, 0, 0, pad_w, 0, pad_h), value=-1.0)
    per_window = window_partition(moved, window)[..., 0]  # (windows, N)
    tokens = window[0] * window[1]
    # weights whose mean over heads and queries is the encoded position of each key
    weights = per_window[None, :, None, None, :].expand(1, -1, 2, tokens, -1)
    block = SimpleNamespace(window_and_shift=lambda h, w: (window, shift))
    heatmap = _window_heatmap(weights, block, height, width)
    torch.testing.assert_close(heatmap[0], positions[0, ..., 0])


def test_logger_draws_inputs_and_maps_for_vit_and_skips_other_models(tmp_path):
    callback = AttentionMapLogger(num_samples=3, max_blocks=2, every_n_epochs=1, cell_px=64)
    model = NetClassifier(tiny_vit(), num_classes=10, in_chans=1, image_size=8)
    tiny_fit(tmp_path, [callback], model=model)
    assert callback.last_image.shape == (3 * 64, (1 + 2) * 64, 3)
    skipped = AttentionMapLogger(every_n_epochs=1)
    tiny_fit(tmp_path, [skipped])  # ConvMixer has no attention
    assert skipped.last_image is None
