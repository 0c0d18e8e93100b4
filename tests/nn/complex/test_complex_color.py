import colorsys
import math

import pytest
import torch

from lit_vision.nn.complex import RGBToIHSV, hsv_to_rgb, ihsv_to_hsv, ihsv_to_rgb, rgb_to_hsv, rgb_to_ihsv


@pytest.fixture
def rgb():
    torch.manual_seed(0)
    x = torch.rand(4, 3, 16, 16)
    x[0, :, :2] = 0.5  # gray pixels: S = 0, H = 0
    x[1, :, 0, :3] = torch.tensor([1.0, 1.0, 0.2])[:, None]  # ties between maxima
    return x


def test_hsv_matches_python_colorsys(rgb):
    hsv = rgb_to_hsv(rgb)
    pixels = rgb.permute(0, 2, 3, 1).reshape(-1, 3).double().tolist()
    ref = torch.tensor([colorsys.rgb_to_hsv(*p) for p in pixels], dtype=torch.float64)
    ours = hsv.permute(0, 2, 3, 1).reshape(-1, 3).double()
    # colorsys hue is in [0, 1) turns; ours in radians. Compare hue as a point on the circle.
    hue_gap = torch.remainder(ours[:, 0] - 2 * math.pi * ref[:, 0] + math.pi, 2 * math.pi) - math.pi
    assert hue_gap.abs().max() < 1e-5
    # S = delta / (V + 1e-6) as in the official code, colorsys has delta / V
    assert (ours[:, 1] - ref[:, 1] * ref[:, 2] / (ref[:, 2] + 1e-6)).abs().max() < 1e-6
    assert (ours[:, 2] - ref[:, 2]).abs().max() == 0
    assert hsv[:, 0].min() >= 0 and hsv[:, 0].max() <= 2 * math.pi


def test_gray_pixels_have_zero_hue_and_saturation(rgb):
    hsv = rgb_to_hsv(rgb)
    assert torch.all(hsv[0, 0, :2] == 0) and torch.all(hsv[0, 1, :2] == 0)


def test_three_channel_layout(rgb):
    h, s, v = rgb_to_hsv(rgb).unbind(1)
    z = rgb_to_ihsv(rgb)
    assert z.dtype == torch.complex64 and z.shape == (4, 3, 16, 16)
    torch.testing.assert_close(z[:, 0], torch.complex(s * h, v))
    torch.testing.assert_close(z[:, 1], torch.polar(s, h))
    torch.testing.assert_close(z[:, 2], torch.complex(v, s))


def test_two_channel_layout(rgb):
    h, s, v = rgb_to_hsv(rgb).unbind(1)
    z = rgb_to_ihsv(rgb, channels=2)
    assert z.shape == (4, 2, 16, 16)
    torch.testing.assert_close(z[:, 0], torch.complex(v, s))
    torch.testing.assert_close(z[:, 1], torch.polar(torch.ones_like(h), h))


@pytest.mark.parametrize("channels", [3, 2])
def test_round_trip(rgb, channels):
    hsv = rgb_to_hsv(rgb)
    back = ihsv_to_hsv(rgb_to_ihsv(rgb, channels=channels))
    colored = hsv[:, 1] > 1e-3
    hue_gap = torch.remainder(back[:, 0] - hsv[:, 0] + math.pi, 2 * math.pi) - math.pi
    assert hue_gap[colored].abs().max() <= 1e-5
    assert (back[:, 1:] - hsv[:, 1:]).abs().max() <= 1e-6
    assert (ihsv_to_rgb(rgb_to_ihsv(rgb, channels=channels)) - rgb).abs().max() <= 1e-5
    assert (hsv_to_rgb(hsv) - rgb).abs().max() <= 1e-5


def test_batched_any_leading_dims_and_module():
    torch.manual_seed(0)
    x = torch.rand(2, 5, 3, 4, 4)
    torch.testing.assert_close(rgb_to_ihsv(x)[1, 3], rgb_to_ihsv(x[1, 3]))
    assert torch.equal(RGBToIHSV(channels=2)(x[0]), rgb_to_ihsv(x[0], channels=2))


def test_low_precision_input_is_computed_in_float32():
    x = torch.rand(1, 3, 4, 4)
    assert rgb_to_ihsv(x.bfloat16()).dtype == torch.complex64
    assert rgb_to_ihsv(x.double()).dtype == torch.complex128


def test_errors_name_function_and_expectation():
    with pytest.raises(TypeError, match=r"rgb_to_ihsv expects a real floating RGB tensor.*complex64"):
        rgb_to_ihsv(torch.zeros(1, 3, 4, 4, dtype=torch.complex64))
    with pytest.raises(
        ValueError, match=r"rgb_to_ihsv expects a RGB tensor of shape \(\*, 3, H, W\), got \(1, 4, 4, 4\)"
    ):
        rgb_to_ihsv(torch.zeros(1, 4, 4, 4))
    with pytest.raises(ValueError, match="channels=4"):
        rgb_to_ihsv(torch.zeros(1, 3, 4, 4), channels=4)
    with pytest.raises(TypeError, match="ihsv_to_hsv expects a complex"):
        ihsv_to_rgb(torch.zeros(1, 3, 4, 4))
