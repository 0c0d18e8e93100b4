import io
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from dataset_fixtures import write_image_tree, write_jpeg
from lit_vision.data import ImageFolderDataModule
from lit_vision.data.loading import default_num_workers
from lit_vision.data.sampling import global_seed, mix_seed

RNG = np.random.default_rng(1)


def save(path, image: Image.Image, fmt: str, **kwargs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, fmt, **kwargs)


def write_every_kind(folder) -> dict[str, str]:
    """Every mode, odd sizes, a truncated JPEG, a text file named .jpg, a README; returns name -> expectation."""
    rgb = Image.fromarray(RNG.integers(0, 256, (37, 53, 3), dtype=np.uint8))
    save(folder / "grey.png", rgb.convert("L"), "PNG")
    save(folder / "grey_alpha.png", rgb.convert("LA"), "PNG")
    save(folder / "palette.png", rgb.convert("P"), "PNG", transparency=3)
    save(folder / "rgba.png", rgb.convert("RGBA"), "PNG")
    save(folder / "cmyk.jpg", rgb.convert("CMYK"), "JPEG")
    save(folder / "deep.png", Image.fromarray(RNG.integers(0, 65536, (20, 30), dtype=np.uint16)), "PNG")
    save(folder / "bitmap.BMP", rgb, "BMP")
    save(folder / "pixel.png", rgb.resize((1, 1)), "PNG")
    save(folder / "thin.jpg", rgb.resize((301, 3)), "JPEG")
    save(folder / "tall.webp", rgb.resize((3, 301)), "WEBP")
    buffer = io.BytesIO()
    rgb.resize((200, 150)).save(buffer, "JPEG")
    (folder / "truncated.jpg").write_bytes(buffer.getvalue()[:400])
    (folder / "notes.jpg").write_bytes(b"not an image at all")
    (folder / "README.txt").write_text("ignored: not an image extension")
    return {"readable": 10, "unreadable": 2}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("imagenet")
    write_image_tree(root, classes=("cat", "dog"), splits={"train": 3, "val": 2}, size=(45, 31))
    write_every_kind(root / "train" / "cat" / "odd")  # nested folders count for their class
    write_every_kind(root / "val" / "dog")
    return root


def datamodule(root, **kwargs) -> ImageFolderDataModule:
    defaults = dict(data_dir=str(root), batch_size=64, image_size=24, num_workers=0)
    return ImageFolderDataModule(**{**defaults, **kwargs})


class FakeTrainer:
    def __init__(self, training: bool) -> None:
        self.training = training


def transfer(dm, batch, training: bool):
    dm.trainer = FakeTrainer(training)
    return dm.on_after_batch_transfer(batch, 0)


def test_scan_classes_and_files(tree):
    dm = datamodule(tree)
    assert dm.num_classes == 2  # read from the class folders before setup, for the model
    dm.setup("fit")
    assert dm.class_names == ["cat", "dog"]
    assert len(dm.datasets["train"]) == 3 + 12 + 3 and len(dm.datasets["val"]) == 2 + 2 + 12
    assert not any(path.endswith("README.txt") for path, _ in dm.datasets["train"].samples)
    assert "test" not in dm.datasets and dm.test_dataloader() == []


def test_training_batches_substitute_unreadable_files_and_warn_once_each(tree):
    torch.manual_seed(0)
    dm = datamodule(tree)
    dm.setup("fit")
    images, labels, problems = next(iter(dm.train_dataloader()))
    assert images.dtype == torch.uint8 and images.shape == (18, 3, 24, 24) and labels.tolist().count(0) >= 13
    assert sum(bool(p) for p in problems) == 2
    with pytest.warns(
        UserWarning, match=r"skipped unreadable image .*(truncated|notes)\.jpg .*unreadable file\(s\) so far"
    ):
        out, out_labels = transfer(dm, (images, labels, problems), training=True)
    assert out.shape == (18, 3, 24, 24) and out.dtype == torch.float32 and len(dm.unreadable) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same files again: counted once, no new warning
        transfer(dm, (images, labels, problems), training=True)


def test_evaluation_drops_unreadable_files_and_normalizes(tree):
    dm = datamodule(tree, image_size=32, crop_pct=1.0)
    dm.setup("fit")
    batch = next(iter(dm.val_dataloader()))
    with pytest.warns(UserWarning):
        images, labels = transfer(dm, batch, training=False)
    assert images.shape == (14, 3, 32, 32) and labels.tolist() == [0, 0] + [1] * 12
    clean = batch[0][:2].float() / 255
    mean, std = torch.tensor(dm.hparams.mean)[:, None, None], torch.tensor(dm.hparams.std)[:, None, None]
    torch.testing.assert_close(images[:2], (clean - mean) / std)


def test_on_corrupt_error_names_the_file(tree):
    dm = datamodule(tree, on_corrupt="error")
    dm.setup("fit")
    batch = next(iter(dm.val_dataloader()))
    with pytest.raises(ValueError, match=r"unreadable image .*dog/notes\.jpg \(not an image.*on_corrupt skip$"):
        transfer(dm, batch, training=False)


def test_worker_processes_deliver_the_same_kind_of_batches(tree):
    dm = datamodule(tree, num_workers=1, batch_size=8)
    dm.setup("fit")
    loader = dm.val_dataloader()
    assert loader.persistent_workers and not loader.pin_memory
    images, labels, problems = next(iter(loader))
    assert images.shape == (8, 3, 24, 24) and len(problems) == 8
    assert datamodule(tree, num_workers=None).num_workers == default_num_workers() <= 8


def test_predict_dir_gives_paths_and_reads_class_names(tree):
    dm = datamodule(tree, predict_dir=str(tree / "val" / "dog"), batch_size=4)
    dm.setup("predict")
    assert dm.class_names == ["cat", "dog"]
    images, paths, problems = next(iter(dm.predict_dataloader()))
    assert isinstance(paths, list | tuple) and paths[0].endswith("bitmap.BMP") and images.shape == (4, 3, 24, 24)


@pytest.mark.parametrize(
    "make,error,message",
    [
        (
            lambda root: (write_jpeg(root / "train" / "dog" / "x.jpg", 8, 8, 0), (root / "train" / "cat").mkdir()),
            ValueError,
            r"class folder .*train/cat has no images",
        ),
        (lambda root: None, FileNotFoundError, r"train split not found: .*/train is not a directory"),
        (
            lambda root: write_jpeg(root / "train" / "x.jpg", 8, 8, 0),
            ValueError,
            r"train split .* has no class folders",
        ),
        (lambda root: write_image_tree(root, splits={"train": 1}), FileNotFoundError, r"val split not found"),
        (
            lambda root: (
                write_image_tree(root, ("cat", "dog"), {"train": 1}),
                write_image_tree(root, ("cat", "cow"), {"val": 1}),
            ),
            ValueError,
            r"class folders differ .*only in train/: \['dog'\] \(1\), only in val/: \['cow'\] \(1\)",
        ),
        (
            lambda root: (
                write_image_tree(root, splits={"train": 1}),
                write_jpeg(root / "val" / "val_01.JPEG", 8, 8, 0),
            ),
            ValueError,
            r"val split .*/val has no class folders.*sorted into class folders",
        ),
    ],
    ids=["empty-class", "no-train", "no-classes", "no-val", "class-mismatch", "flat-val"],
)
def test_layout_errors_are_one_line(tmp_path, make, error, message):
    make(tmp_path)
    with pytest.raises(error, match=message) as raised:
        dm = datamodule(tmp_path)
        dm.setup("fit")
    assert "\n" not in str(raised.value)


def test_predict_without_train_split_needs_num_classes(tmp_path):
    write_jpeg(tmp_path / "imgs" / "a.jpg", 20, 20, 0)
    with pytest.raises(ValueError, match=r"num_classes is unknown: .*pass --data.init_args.num_classes"):
        datamodule(tmp_path / "nowhere", predict_dir=str(tmp_path / "imgs"))
    dm = datamodule(tmp_path / "nowhere", predict_dir=str(tmp_path / "imgs"), num_classes=5)
    dm.setup("predict")
    assert dm.num_classes == 5 and dm.class_names is None and len(dm.datasets["predict"]) == 1


def test_rotation_runs_on_the_device_in_training_only(tmp_path):
    from torchvision.transforms.v2 import functional as TF

    write_image_tree(tmp_path, classes=("a", "b"), splits={"train": 4, "val": 1}, size=(40, 30))
    dm = datamodule(tmp_path, image_size=16, hflip=False, rotation_degrees=15, normalize=False)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    rotated, _ = transfer(dm, batch, training=True)
    first_batch = torch.Generator().manual_seed(mix_seed(global_seed(), 0, 0))  # (seed, rank, batch)
    angles = torch.empty(len(batch[0])).uniform_(-15, 15, generator=first_batch)
    expected = torch.stack([TF.rotate(image, float(angle), fill=0.0) for image, angle in zip(batch[0], angles)])
    assert torch.equal(rotated, expected.float() / 255)
    plain, _ = transfer(dm, batch, training=False)
    assert torch.equal(plain, batch[0].float() / 255)


def test_bad_arguments():
    with pytest.raises(ValueError, match="data rotation_degrees=-1 must be >= 0"):
        ImageFolderDataModule(rotation_degrees=-1)
    with pytest.raises(ValueError, match="crop_pct=1.5 must lie in"):
        ImageFolderDataModule(crop_pct=1.5)
    with pytest.raises(ValueError, match="on_corrupt='ignore' is not supported"):
        ImageFolderDataModule(on_corrupt="ignore")


def test_aug_repeats_reach_the_training_sampler(tmp_path):
    write_image_tree(tmp_path, classes=("a", "b"), splits={"train": 4, "val": 1}, size=(20, 20))
    dm = datamodule(tmp_path, aug_repeats=3, batch_size=2)
    dm.setup("fit")

    class TwoProcesses:
        world_size, global_rank = 2, 1
        strategy = type("Strategy", (), {"root_device": torch.device("cpu")})

    dm.trainer = TwoProcesses()
    sampler = dm.train_dataloader().sampler
    assert (sampler.aug_repeats, sampler.num_replicas, sampler.rank) == (3, 2, 1)
    assert len(sampler) == 4  # 8 images, fewer than 256: ceil(8 / 2) per process
    with pytest.raises(ValueError, match="data aug_repeats=-1 must be >= 0"):
        datamodule(tmp_path, aug_repeats=-1)
