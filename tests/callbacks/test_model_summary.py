import logging

import pytest
import torch
from callback_fit import tiny_fit
from lightning.pytorch.loggers import CSVLogger

from lit_vision.callbacks.model_summary import ModelSummaryLogger, model_stats
from lit_vision.models.classifier import ImageClassifier
from lit_vision.models.convmixer import ConvMixerClassifier


def test_params_and_macs_reach_the_logger_and_the_console(tmp_path, caplog):
    callback = ModelSummaryLogger()
    with caplog.at_level(logging.INFO):
        tiny_fit(tmp_path, [callback], logger=CSVLogger(tmp_path, name="csv"))
    model = ConvMixerClassifier(dim=16, depth=1, kernel_size=3, patch_size=1, num_classes=10, in_chans=1, image_size=8)
    params = sum(p.numel() for p in model.parameters())
    assert callback.stats["model/params"] == params == callback.stats["model/trainable_params"]
    # 8x8 map: patch embed 1x1 conv (1->16), depthwise 3x3 (16 ch), pointwise 1x1 (16->16), then the 16->10 head
    expected_macs = 64 * (1 * 16) + 64 * (16 * 9) + 64 * (16 * 16) + 16 * 10
    assert callback.stats["model/gmacs"] == pytest.approx(expected_macs / 1e9)
    metrics = next((tmp_path / "csv").rglob("metrics.csv")).read_text()
    assert "model/params" in metrics.splitlines()[0] and "model/gmacs" in metrics
    expected_line = f"lit-vision: model {params / 1e6:.3f} M parameters, {expected_macs / 1e9:.4g} GMACs per example"
    assert any(record.getMessage().startswith(expected_line) for record in caplog.records)


def test_macs_are_skipped_without_an_input_shape():
    model = ConvMixerClassifier(dim=8, depth=1, kernel_size=3, patch_size=1, num_classes=10, in_chans=1, image_size=8)
    del model.hparams["image_size"]
    model.example_input_array = None
    assert "model/gmacs" not in model_stats(model)


def test_profiling_leaves_one_time_checks_of_forward_untouched():
    class CheckedOnce(ImageClassifier):
        def __init__(self) -> None:
            super().__init__(num_classes=10, in_chans=3, image_size=8)
            self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 10))
            self.checked = False

        def forward(self, x):
            if not self.checked:
                assert x.min() >= 0 and x.max() <= 1, "images must lie in [0, 1]"  # like FCCN's color model
                self.checked = True
            return self.net(x)

    model = CheckedOnce()
    assert model_stats(model)["model/gmacs"] == pytest.approx(3 * 8 * 8 * 10 / 1e9)
    assert model.checked is False
