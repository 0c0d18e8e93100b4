import pytest
import torch

from lit_vision.data.transforms import (
    random_erasing,
    random_resized_crop,
    random_rotation,
    rotate,
    to_float,
)


def test_to_float_scales_uint8_only():
    images = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 1, 1, 3)
    torch.testing.assert_close(to_float(images), torch.tensor([0.0, 0.2, 1.0]).view(1, 1, 1, 3))
    floats = torch.rand(2, 3, 4, 4)
    assert to_float(floats) is floats


def test_random_resized_crop_full_box_is_identity_and_boxes_stay_inside():
    torch.manual_seed(0)
    images = torch.rand(4, 3, 16, 16)
    torch.testing.assert_close(random_resized_crop(images, 16, scale=(1.0, 1.0), ratio=(1.0, 1.0)), images)
    # a constant-per-column ramp: a crop inside the image only sees values within the ramp's range
    ramp = torch.linspace(0, 1, 32).expand(8, 3, 32, 32).contiguous()
    crops = random_resized_crop(ramp, 20, scale=(0.1, 0.5))
    assert crops.shape == (8, 3, 20, 20) and crops.min() >= 0 and crops.max() <= 1
    widths = crops[:, 0, 0, -1] - crops[:, 0, 0, 0]
    assert (widths < 0.75).all() and (widths > 0.1).all()


def test_random_erasing_boxes_follow_area_bounds():
    torch.manual_seed(0)
    images = torch.full((64, 3, 40, 40), 7.0)
    erased = random_erasing(images, p=1.0)
    fraction = (erased != 7.0).all(dim=1).float().mean(dim=(1, 2))
    assert (fraction >= 0.015).all() and (fraction <= 1 / 3 + 0.03).all()
    assert torch.equal(random_erasing(images, p=0.0), images)
    some = random_erasing(images, p=0.5)
    changed = (some != 7.0).flatten(1).any(dim=1).float().mean()
    assert 0.25 < changed < 0.75


@pytest.mark.parametrize(("height", "width"), [(32, 32), (20, 28)])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("fill", [None, 0.0, 0.5])
def test_rotate_equals_torchvision_rotate_per_sample(height, width, interpolation, fill):
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    images = torch.rand(3, 3, height, width, generator=torch.Generator().manual_seed(0))
    angles = torch.tensor([10.0, -37.0, 90.0])
    mode = InterpolationMode.NEAREST if interpolation == "nearest" else InterpolationMode.BILINEAR
    expected = torch.stack(
        [TF.rotate(image, float(angle), interpolation=mode, fill=fill) for image, angle in zip(images, angles)]
    )
    torch.testing.assert_close(rotate(images, angles, interpolation, fill), expected, atol=1e-5, rtol=0)


def test_random_rotation_keeps_uint8_and_draws_angles_within_the_range():
    from torchvision.transforms.v2 import functional as TF

    images = torch.randint(0, 256, (64, 1, 9, 9), dtype=torch.uint8)
    assert random_rotation(images, 0) is images
    rotated = random_rotation(images, 10, generator=torch.Generator().manual_seed(1))
    assert rotated.dtype == torch.uint8 and rotated.shape == images.shape
    assert not torch.equal(rotated, images)
    angles = torch.empty(64).uniform_(-10, 10, generator=torch.Generator().manual_seed(1))
    expected = torch.stack([TF.rotate(image, float(angle)) for image, angle in zip(images, angles)])
    assert torch.equal(rotated, expected)
