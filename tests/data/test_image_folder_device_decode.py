"""`decode_device`: workers ship JPEG bytes + crop boxes, `on_after_batch_transfer` decodes the batch where it lives.
With the batch on the CPU the result must equal decoding in the workers, image by image (no GPU in the tests)."""

import io
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from dataset_fixtures import write_image_tree
from lit_vision.data import ImageFolderDataModule
from lit_vision.data.device_decode import EncodedBatch

RNG = np.random.default_rng(3)


class FakeTrainer:
    """What the loaders and `on_after_batch_transfer` ask of the Trainer: one CPU process."""

    world_size, global_rank = 1, 0
    strategy = SimpleNamespace(root_device=torch.device("cpu"))

    def __init__(self, training: bool) -> None:
        self.training = training


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = write_image_tree(tmp_path_factory.mktemp("imagenet"), splits={"train": 5, "val": 3}, size=(61, 47))
    rgb = Image.fromarray(RNG.integers(0, 256, (40, 70, 3), dtype=np.uint8))
    for split in ("train", "val"):  # what the device does not take: decoded in the workers
        rgb.save(root / split / "cat" / "z.png", "PNG")
        rgb.convert("CMYK").save(root / split / "dog" / "z_cmyk.jpg", "JPEG")
        rgb.convert("L").save(root / split / "dog" / "z_grey.jpg", "JPEG")
    return root


@pytest.fixture
def pretend_cuda(monkeypatch):
    """Lets the DataModule accept decode_device='cuda' on this GPU-less machine; batches stay on the CPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def datamodule(root, **kwargs) -> ImageFolderDataModule:
    defaults = dict(data_dir=str(root), batch_size=32, image_size=24, num_workers=0)
    dm = ImageFolderDataModule(**{**defaults, **kwargs})
    dm.setup("fit")
    return dm


def batches(dm, split: str, training: bool, seed: int = 0) -> list:
    random.seed(seed)  # the crop boxes and flips the (in-process) workers draw
    dm.trainer = FakeTrainer(training)
    loader = dm.train_dataloader() if split == "train" else dm.val_dataloader()
    return [dm.on_after_batch_transfer(batch, 0) for batch in loader]


@pytest.mark.parametrize("split,training", [("train", True), ("val", False)])
@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_device_decoding_on_cpu_equals_worker_decoding(tree, pretend_cuda, split, training, interpolation):
    on_cpu = batches(datamodule(tree, interpolation=interpolation), split, training)
    on_device = batches(datamodule(tree, interpolation=interpolation, decode_device="cuda"), split, training)
    assert len(on_cpu) == len(on_device) > 0
    for (images, labels), (device_images, device_labels) in zip(on_cpu, on_device):
        assert torch.equal(labels, device_labels)
        assert device_images.shape == images.shape and torch.equal(device_images, images)


def test_worker_items_carry_bytes_for_jpegs_and_pixels_for_the_rest(tree, pretend_cuda):
    dm = datamodule(tree, decode_device="cuda", num_workers=1)  # EncodedBatch crosses the process boundary
    dm.trainer = FakeTrainer(training=False)
    batch, labels, problems = next(iter(dm.val_dataloader()))
    assert isinstance(batch, EncodedBatch) and len(batch) == len(labels) == len(problems) == 9
    names = [dm.datasets["val"].samples[i][0].rsplit("/", 1)[1] for i in batch.decoded_at]
    assert sorted(names) == ["z.png", "z_cmyk.jpg"] and batch.images.shape == (2, 3, 24, 24)
    assert len(batch.encoded_at) == 7 and batch.offsets[-1] == batch.encoded.numel()
    assert batch.to("cpu").encoded is batch.encoded  # only the decoded images travel to the device


def test_a_corrupt_jpeg_is_reported_with_its_path_and_dropped_in_evaluation(tmp_path, pretend_cuda):
    root = write_image_tree(tmp_path, splits={"train": 2, "val": 2}, size=(40, 30))
    buffer = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(buffer, "JPEG")
    (root / "val" / "dog" / "broken.jpg").write_bytes(buffer.getvalue()[:400])  # header intact, data cut
    dm = datamodule(root, decode_device="cuda")
    with pytest.warns(UserWarning, match=r"skipped unreadable image .*dog/broken\.jpg \(.*truncated"):
        (images, labels), *_ = batches(dm, "val", training=False)
    assert images.shape == (4, 3, 24, 24) and labels.tolist() == [0, 0, 1, 1]


def test_decode_device_errors_are_one_line(tree, monkeypatch):
    with pytest.raises(ValueError, match=r"^decode_device='gpu' is not supported; use 'cpu' or 'cuda'$"):
        ImageFolderDataModule(str(tree), decode_device="gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"^decode_device='cuda' needs a CUDA GPU .*use decode_device: cpu$"):
        ImageFolderDataModule(str(tree), decode_device="cuda")
