import torch
from callback_fit import tiny_fit
from lightning.pytorch.loggers import CSVLogger

from lit_vision.callbacks.throughput import ThroughputLogger, batch_size


def test_samples_per_second_are_logged(tmp_path):
    trainer = tiny_fit(tmp_path, [ThroughputLogger(window=1)], logger=CSVLogger(tmp_path, name="csv"))
    metrics = trainer.callback_metrics
    assert metrics["perf/val_samples_per_s"] > 0
    header = next((tmp_path / "csv").rglob("metrics.csv")).read_text().splitlines()[0]
    assert "perf/train_samples_per_s" in header and "perf/val_samples_per_s" in header


def test_batch_size_of_common_batches():
    images = torch.zeros(5, 1, 8, 8)
    assert batch_size(images) == 5
    assert batch_size((images, torch.zeros(5))) == 5
    assert batch_size({"src": torch.zeros(7, 3)}) == 7
    assert batch_size(None) == 0
