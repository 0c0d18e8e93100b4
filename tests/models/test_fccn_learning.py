import math

import pytest
import torch

from lit_vision.models import FCCNClassifier


def small(**kwargs) -> FCCNClassifier:
    args = {"arch": "convnet", "widths": [8, 8], "num_classes": 4, "in_chans": 3, "image_size": 8, **kwargs}
    return FCCNClassifier(**args)


def test_forward_reads_rgb_and_returns_complex_logits_scored_by_magnitude():
    torch.manual_seed(0)
    model = small()
    rgb = torch.rand(2, 3, 8, 8)
    z = model(rgb)
    assert z.dtype == torch.complex64 and z.shape == (2, 4)
    torch.testing.assert_close(z, model.net(model.to_complex(rgb)))
    torch.testing.assert_close(model.scores(z), z.abs())
    loss, extra = model.compute_loss(z, torch.tensor([0, 3]))
    assert set(extra) == {"loss_magnitude", "loss_phase"}
    torch.testing.assert_close(loss, (extra["loss_magnitude"] + extra["loss_phase"]) / 2)


def test_grey_input_and_two_channel_color_model():
    model = small(in_chans=1, color_channels=2)
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 4)
    assert model.net.in_chans == 2


def test_real_twin_uses_rgb_and_cross_entropy():
    model = small(twin="real")
    out = model(torch.rand(2, 3, 8, 8))
    assert not out.is_complex() and out.shape == (2, 4)
    loss, extra = model.compute_loss(out, torch.tensor([0, 1]))
    assert extra == {} and torch.isfinite(loss)
    assert all(not p.is_complex() for p in model.parameters())


def test_resnet_twin_is_timm_resnet_of_same_widths():
    complex_net = FCCNClassifier(arch="resnet18", num_classes=10, width=16, stem="cifar").net
    real_net = FCCNClassifier(arch="resnet18", num_classes=10, width=16, stem="cifar", twin="real").net
    assert type(real_net).__module__.startswith("timm.")
    assert real_net.fc.in_features == complex_net.num_features == 128
    assert real_net(torch.rand(1, 3, 16, 16)).shape == complex_net(complex_net_input()).shape == (1, 10)


def complex_net_input() -> torch.Tensor:
    from lit_vision.nn.complex import rgb_to_ihsv

    return rgb_to_ihsv(torch.rand(1, 3, 16, 16))


def test_normalized_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"FCCNClassifier expects RGB images in \[0, 1\].*normalize false"):
        small()(torch.randn(2, 3, 8, 8) * 2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="arch='resnet9'"):
        small(arch="resnet9")
    with pytest.raises(ValueError, match="norm='none' is only available for arch='convnet'"):
        small(arch="resnet18", norm="none")
    with pytest.raises(ValueError, match="in_chans=4"):
        small(in_chans=4)


@pytest.mark.slow
def test_fccn_config_reaches_97_percent_on_digits(fit_config):
    cli = fit_config("fccn.yaml")
    assert cli.trainer.callback_metrics["test/acc"] >= 0.97


def test_random_tint_is_seeded_in_range_and_colored():
    from lit_vision.data.tint import random_tint
    from lit_vision.nn.complex import rgb_to_hsv

    grey = torch.rand(16, 1, 8, 8)
    rgb = random_tint(grey, seed=3)
    assert rgb.shape == (16, 3, 8, 8) and rgb.min() >= 0 and rgb.max() <= 1
    assert torch.equal(rgb, random_tint(grey, seed=3)) and not torch.equal(rgb, random_tint(grey, seed=4))
    halves = torch.zeros(32, 1, 1, 2)
    halves[..., 1] = 1.0  # left pixel: background color, right pixel: foreground color
    hue, sat, _ = rgb_to_hsv(random_tint(halves, seed=0)).unbind(1)
    gap = torch.remainder(hue[..., 1] - hue[..., 0], 2 * math.pi)
    assert gap.min() >= math.pi / 3 - 1e-4 and gap.max() <= 5 * math.pi / 3 + 1e-4  # hues >= 1/6 turn apart
    assert sat.min() >= 0.5 - 1e-4
    with pytest.raises(ValueError, match=r"random_tint expects grey images of shape \(N, 1, H, W\)"):
        random_tint(torch.rand(2, 3, 8, 8))
