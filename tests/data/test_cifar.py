import itertools
import pickle
import urllib.error

import numpy as np
import pytest
import torch

from dataset_fixtures import CIFAR10_NAMES, write_cifar10, write_cifar100
from lit_vision.data import CIFAR10DataModule, CIFAR100DataModule
from lit_vision.data.cifar import stratified_split
from lit_vision.data.sampling import global_seed, mix_seed


@pytest.fixture(scope="module")
def cifar10_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar10")
    write_cifar10(root, per_class_per_batch=2, test_per_class=3)
    return root


def test_reads_official_batches_into_uint8_memory(cifar10_dir):
    dm = CIFAR10DataModule(data_dir=str(cifar10_dir), val_split=0.2, seed=1)
    dm.setup("fit")
    assert dm.class_names == CIFAR10_NAMES
    assert (dm.num_classes, dm.in_chans, dm.image_size) == (10, 3, 32)
    train, val, test = dm.splits["train"], dm.splits["val"], dm.splits["test"]
    assert (len(train), len(val), len(test)) == (80, 20, 30)
    assert train.images.dtype == torch.uint8 and train.images.shape[1:] == (3, 32, 32)
    # row-major CIFAR layout: the first 1024 bytes are the red plane
    with open(cifar10_dir / "cifar-10-batches-py" / "test_batch", "rb") as file:
        raw = pickle.load(file, encoding="bytes")
    first = torch.from_numpy(np.asarray(raw[b"data"][0]).reshape(3, 32, 32))
    assert torch.equal(test.images[0], first) and test.labels[0].item() == raw[b"labels"][0]
    # stratified: two of each class held out, disjoint from train
    assert torch.bincount(val.labels, minlength=10).tolist() == [2] * 10
    train_rows = {bytes(x.flatten().tolist()) for x in train.images}
    assert not any(bytes(x.flatten().tolist()) in train_rows for x in val.images)


def test_val_split_zero_validates_on_test_set_and_str_keys_work(tmp_path):
    write_cifar10(tmp_path, str_keys=True)
    dm = CIFAR10DataModule(data_dir=str(tmp_path / "cifar-10-batches-py"), val_split=0)  # the folder itself works too
    dm.setup("fit")
    assert dm.splits["val"] is dm.splits["test"] and len(dm.splits["train"]) == 50
    assert dm.class_names[0] == "airplane"


def test_stratified_split_is_seeded_and_keeps_every_class():
    labels = torch.arange(7).repeat_interleave(torch.tensor([2, 3, 10, 10, 10, 40, 1]))
    rest, held = stratified_split(labels, 0.1, seed=5)
    again_rest, again_held = stratified_split(labels, 0.1, seed=5)
    assert torch.equal(held, again_held) and torch.equal(rest, again_rest)
    assert len(set(rest.tolist()) | set(held.tolist())) == len(labels)
    counts = torch.bincount(labels[held], minlength=7).tolist()
    assert counts == [1, 1, 1, 1, 1, 4, 0]  # at least one per class that has two or more


def test_batches_gather_in_one_index_and_augment_on_device(cifar10_dir):
    torch.manual_seed(0)
    dm = CIFAR10DataModule(data_dir=str(cifar10_dir), batch_size=32, image_size=56, crop_scale=0.7,
                           randaugment_ops=2, erase_prob=0.5)  # fmt: skip
    dm.setup("fit")
    images, labels = next(iter(dm.train_dataloader()))
    assert images.dtype == torch.uint8 and images.shape == (32, 3, 32, 32) and labels.shape == (32,)

    class Training:
        training = True

    dm.trainer = Training()
    out, out_labels = dm.on_after_batch_transfer((images, labels), 0)
    assert out.shape == (32, 3, 56, 56) and out.dtype == torch.float32 and torch.equal(out_labels, labels)
    Training.training = False
    clean, _ = dm.on_after_batch_transfer((images, labels), 0)
    again, _ = dm.on_after_batch_transfer((images, labels), 0)
    assert torch.equal(clean, again) and not torch.allclose(out, clean)
    mean = torch.tensor(dm.mean)[None, :, None, None]
    std = torch.tensor(dm.std)[None, :, None, None]
    expected = torch.nn.functional.interpolate(images.float() / 255, size=56, mode="bilinear", antialias=True)
    torch.testing.assert_close(clean, (expected - mean) / std)


def test_rotation_follows_the_resize_in_training_only(cifar10_dir):
    """FCCN's recipe: Resize(56) -> RandomRotation(10); equal to torchvision's rotate with the same angles."""
    from torchvision.transforms.v2 import functional as TF

    dm = CIFAR10DataModule(data_dir=str(cifar10_dir), batch_size=8, image_size=56, crop_padding=0, hflip=False,
                           rotation_degrees=10, normalize=False)  # fmt: skip
    dm.setup("fit")
    images, labels = next(iter(dm.train_dataloader()))

    class Training:
        training = True

    dm.trainer = Training()
    rotated, _ = dm.on_after_batch_transfer((images, labels), 0)
    first_batch = torch.Generator().manual_seed(mix_seed(global_seed(), 0, 0))  # (seed, rank, batch)
    angles = torch.empty(8).uniform_(-10, 10, generator=first_batch)
    resized = torch.nn.functional.interpolate(images.float() / 255, size=56, mode="bilinear", antialias=True)
    expected = torch.stack([TF.rotate(image, float(angle), fill=0.0) for image, angle in zip(resized, angles)])
    torch.testing.assert_close(rotated, expected, atol=1e-6, rtol=0)
    Training.training = False
    clean, _ = dm.on_after_batch_transfer((images, labels), 0)
    torch.testing.assert_close(clean, resized)
    with pytest.raises(ValueError, match=r"data rotation_degrees=-5 must be >= 0 \(0 turns it off\)"):
        CIFAR10DataModule(rotation_degrees=-5)


def test_cifar100_fine_and_coarse_labels(tmp_path):
    write_cifar100(tmp_path)
    fine = CIFAR100DataModule(data_dir=str(tmp_path), val_split=0.5)
    fine.setup("fit")
    assert fine.num_classes == 100 and fine.class_names[3] == "fine_3" and len(fine.splits["val"]) == 100
    coarse = CIFAR100DataModule(data_dir=str(tmp_path), label_type="coarse")
    coarse.setup("fit")
    assert coarse.num_classes == 20 and coarse.class_names[-1] == "coarse_19"
    assert coarse.splits["test"].labels.max().item() == 19


def test_missing_files_name_the_directory_and_the_files(tmp_path):
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"")
    dm = CIFAR10DataModule(data_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError) as error:
        dm.setup("fit")
    message = str(error.value)
    assert "\n" not in message
    assert f"{tmp_path}/cifar-10-batches-py/ lacks data_batch_2, data_batch_3" in message
    assert "test_batch, batches.meta; extract" in message and "cifar-10-python.tar.gz" in message
    assert "download true" in message


def test_offline_download_is_a_one_line_error(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    dm = CIFAR10DataModule(data_dir=str(tmp_path), download=True)
    with pytest.raises(FileNotFoundError, match=r"could not download CIFAR-10 into .*name resolution.*extract it"):
        dm.prepare_data()


def test_bad_arguments_and_a_foreign_pickle(tmp_path):
    with pytest.raises(ValueError, match="val_split=1.5 must lie in"):
        CIFAR10DataModule(val_split=1.5)
    with pytest.raises(ValueError, match="label_type='medium'"):
        CIFAR100DataModule(label_type="medium")
    folder = write_cifar10(tmp_path)
    with open(folder / "data_batch_3", "wb") as file:
        pickle.dump({b"data": np.zeros((4, 100), np.uint8), b"labels": [0] * 4}, file)
    with pytest.raises(ValueError, match=r"data_batch_3 is not a CIFAR-10 python batch.*\(4, 100\)"):
        CIFAR10DataModule(data_dir=str(tmp_path)).setup("fit")


def test_training_order_resumes_mid_epoch_with_the_same_batches_and_augmentation(cifar10_dir):
    def datamodule():
        dm = CIFAR10DataModule(data_dir=str(cifar10_dir), batch_size=4, val_split=0.0, rotation_degrees=10)
        dm.setup("fit")
        return dm

    class Training:
        training, global_rank = True, 0

    def augmented(dm, batch):
        dm.trainer = Training()
        return dm.on_after_batch_transfer(batch, 0)

    uninterrupted = datamodule()
    batches = list(uninterrupted.train_dataloader())
    assert len(batches) == 25  # 100 images
    expected = [augmented(uninterrupted, batch) for batch in batches]

    stopped = datamodule()
    for batch in itertools.islice(stopped.train_dataloader(), 3):
        augmented(stopped, batch)
    state = stopped.state_dict()

    resumed = datamodule()
    resumed.load_state_dict(state)
    rest = [augmented(resumed, batch) for batch in resumed.train_dataloader()]
    assert len(rest) == 22
    for (images, labels), (want_images, want_labels) in zip(rest, expected[3:]):
        assert torch.equal(labels, want_labels) and torch.equal(images, want_images)
