import pytest
import torch

from lit_vision.data import DigitsDataModule


def test_split_is_stratified_seeded_and_disjoint():
    dm = DigitsDataModule(seed=3)
    dm.setup()
    sizes = {name: len(split) for name, split in dm.splits.items()}
    assert sum(sizes.values()) == 1797
    assert abs(sizes["test"] - 0.15 * 1797) <= 1 and abs(sizes["val"] - 0.15 * 1797) <= 1
    for split in dm.splits.values():
        counts = torch.bincount(split.tensors[1], minlength=10).float()
        assert counts.min() / counts.max() > 0.85
    again = DigitsDataModule(seed=3)
    again.setup()
    assert torch.equal(again.splits["test"].tensors[0], dm.splits["test"].tensors[0])
    train = {tuple(x.flatten().tolist()) for x in dm.splits["train"].tensors[0]}
    overlap = sum(tuple(x.flatten().tolist()) in train for x in dm.splits["test"].tensors[0])
    assert overlap < 5  # the raw set has a few duplicate images, no more


@pytest.mark.parametrize("image_size,in_chans", [(8, 1), (16, 3), (32, 3)])
def test_on_device_transform_shapes_and_normalization(image_size, in_chans):
    dm = DigitsDataModule(image_size=image_size, in_chans=in_chans, batch_size=512)
    dm.setup()
    images, labels = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    assert images.shape == (512, in_chans, image_size, image_size)
    assert images.mean().abs() < 0.15
    # exact unit variance at the native 8 px; upsampling smooths, which lowers it a little
    assert (images.std() - 1).abs() < (0.05 if image_size == 8 else 0.3)
    assert dm.num_classes == 10 and labels.max() < 10


def test_negative_batch_size_is_one_line_error():
    with pytest.raises(ValueError, match=r"batch_size=-4 must be a positive number"):
        DigitsDataModule(batch_size=-4)


def test_tint_gives_seeded_color_digits():
    dm = DigitsDataModule(in_chans=3, tint=True, normalize=False, seed=1)
    dm.setup()
    images = dm.splits["train"].tensors[0]
    assert images.shape[1:] == (3, 8, 8)
    assert (images[:, 0] - images[:, 1]).abs().mean() > 0.05  # not grey any more
    again = DigitsDataModule(in_chans=3, tint=True, normalize=False, seed=1)
    again.setup()
    assert torch.equal(again.splits["train"].tensors[0], images)
    with pytest.raises(ValueError, match="tint=True .* needs in_chans=3"):
        DigitsDataModule(in_chans=1, tint=True)
