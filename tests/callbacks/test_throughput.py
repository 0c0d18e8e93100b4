import csv

import pytest
import torch
from callback_fit import tiny_convmixer, tiny_fit
from lightning.pytorch.loggers import CSVLogger

from lit_vision.callbacks.model_summary import count_macs
from lit_vision.callbacks.throughput import ThroughputLogger, batch_size


def logged(root) -> dict[str, list[float]]:
    rows = list(csv.DictReader(next(root.rglob("metrics.csv")).open()))
    return {key: [float(row[key]) for row in rows if row.get(key)] for key in rows[0]}


def test_samples_per_second_flops_and_mfu_are_logged(tmp_path):
    monitor = ThroughputLogger(window=2, peak_flops=1e12)
    tiny_fit(tmp_path, [monitor], logger=CSVLogger(tmp_path, name="csv"), max_epochs=2)
    metrics = logged(tmp_path / "csv")
    for key in ("train/device/samples_per_sec", "train/device/mfu", "validate/device/samples_per_sec"):
        assert metrics.get(key) and all(value > 0 for value in metrics[key]), key
    # training FLOPs = 3 passes x 2 FLOPs per MAC x the MACs of one example, per sample
    flops_per_sample = 6 * count_macs(tiny_convmixer())
    assert monitor.flops_per_sample * 3 == pytest.approx(flops_per_sample)
    ratio = [f / s for f, s in zip(metrics["train/device/flops_per_sec"], metrics["train/device/samples_per_sec"])]
    assert ratio == pytest.approx([flops_per_sample] * len(ratio), rel=1e-6)
    mfu = [f / 1e12 for f in metrics["train/device/flops_per_sec"]]
    assert metrics["train/device/mfu"] == pytest.approx(mfu)


def test_without_flops_only_samples_and_batches_are_logged(tmp_path):
    tiny_fit(tmp_path, [ThroughputLogger(window=2, mfu=False)], logger=CSVLogger(tmp_path, name="csv"))
    metrics = logged(tmp_path / "csv")
    assert metrics["train/device/samples_per_sec"] and "train/device/flops_per_sec" not in metrics


def test_bad_window_is_one_line():
    with pytest.raises(ValueError, match="window=1 must be >= 2"):
        ThroughputLogger(window=1)


def test_batch_size_of_common_batches():
    images = torch.zeros(5, 1, 8, 8)
    assert batch_size(images) == 5
    assert batch_size((images, torch.zeros(5))) == 5
    assert batch_size({"src": torch.zeros(7, 3)}) == 7
    assert batch_size(None) == 0
