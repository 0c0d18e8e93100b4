import numpy as np
import pytest
from callback_fit import tiny_fit

from lit_vision.callbacks.prediction_grid import PredictionGridLogger, grid_shape, render_prediction_grid


def test_grid_of_the_first_validation_images_has_the_expected_size(tmp_path):
    callback = PredictionGridLogger(num_samples=6, columns=4, every_n_epochs=1, cell_px=96)
    tiny_fit(tmp_path, [callback])
    assert callback.last_image.shape == (2 * 96, 4 * 96, 3) and callback.last_image.dtype == np.uint8
    assert callback.last_image.std() > 0  # something was drawn


@pytest.mark.parametrize("count,columns,expected", [(16, 8, (2, 8)), (5, 8, (1, 5)), (9, 4, (3, 4))])
def test_grid_shape(count, columns, expected):
    assert grid_shape(count, columns) == expected


def test_render_rgb_and_grey():
    rgb = np.random.default_rng(0).random((3, 10, 10, 3))
    grey = rgb[..., 0]
    for images in (rgb, grey):
        image = render_prediction_grid(images, ["a", "b", "c"], ["a", "c", "c"], columns=2, cell_px=64)
        assert image.shape == (128, 128, 3)


def test_bad_arguments_fail_early():
    with pytest.raises(ValueError, match="num_samples=0"):
        PredictionGridLogger(num_samples=0)
