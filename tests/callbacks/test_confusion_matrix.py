import numpy as np
import pytest
import torch
from callback_fit import tiny_fit
from lightning.pytorch.loggers import CSVLogger

from lit_vision.callbacks.confusion_matrix import ConfusionMatrixLogger, render_confusion_matrix
from lit_vision.callbacks.media import is_logging_epoch


def validation_predictions(trainer, batches: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictions of the trained model on the first validation batches, the way the validation loop sees them."""
    datamodule, model = trainer.datamodule, trainer.lightning_module
    model.eval()
    truth, predicted = [], []
    with torch.no_grad():
        for index, batch in enumerate(datamodule.val_dataloader()):
            if index == batches:
                break
            images, labels = datamodule.on_after_batch_transfer(batch, 0)
            truth.append(labels)
            predicted.append(model(images).argmax(dim=-1))
    return torch.cat(truth), torch.cat(predicted)


def test_counts_match_the_models_predictions_and_image_has_the_requested_size(tmp_path):
    callback = ConfusionMatrixLogger(every_n_epochs=1, size_px=320)
    trainer = tiny_fit(tmp_path, [callback], logger=CSVLogger(tmp_path, name="csv"))
    assert callback.last_image.shape == (320, 320, 3) and callback.last_image.dtype == np.uint8
    truth, predicted = validation_predictions(trainer)
    expected = np.zeros((10, 10), dtype=np.int64)
    np.add.at(expected, (truth.numpy(), predicted.numpy()), 1)
    assert callback.last_counts.tolist() == expected.tolist()
    pngs = list((tmp_path / "csv").rglob("media/val_confusion_matrix_epoch000.png"))
    assert len(pngs) == 1  # CSV logger: a PNG in the run directory


def test_skips_epochs_between_logging_epochs(tmp_path):
    callback = ConfusionMatrixLogger(every_n_epochs=5)
    tiny_fit(tmp_path, [callback], max_epochs=2)
    assert callback.last_image is not None  # only the last epoch (2 of 2) logged
    assert callback.logged_epochs == [1]


def test_render_annotates_small_matrices_and_keeps_large_ones_readable():
    image = render_confusion_matrix(np.eye(100, dtype=np.int64) * 3, [str(i) for i in range(100)], size_px=256)
    assert image.shape == (256, 256, 3)


class _Trainer:
    def __init__(self, epoch: int, max_epochs: int, sanity: bool = False) -> None:
        self.current_epoch, self.max_epochs, self.sanity_checking = epoch, max_epochs, sanity


@pytest.mark.parametrize(
    "epoch,max_epochs,every,expected",
    [(0, 10, 5, False), (4, 10, 5, True), (9, 10, 5, True), (8, 10, 5, False), (0, 1, 5, True), (2, -1, 3, True)],
)
def test_logging_epochs(epoch, max_epochs, every, expected):
    assert is_logging_epoch(_Trainer(epoch, max_epochs), every) is expected
    assert is_logging_epoch(_Trainer(epoch, max_epochs, sanity=True), every) is False


def test_bad_arguments_fail_early():
    with pytest.raises(ValueError, match="every_n_epochs=0"):
        ConfusionMatrixLogger(every_n_epochs=0)
