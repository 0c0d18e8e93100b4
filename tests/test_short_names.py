"""Short class names on the command line resolve to lit-vision's classes without importing them first."""

import pytest

from helpers import CONFIGS
from lit_vision.cli import main
from lit_vision.short_names import expand_short_names


def test_short_names_expand_to_import_paths():
    argv = ["fit", "--model", "SwinClassifier", "--data=ImageFolderDataModule", "--model.help", "ViTClassifier"]
    assert expand_short_names(argv) == [
        "fit",
        "--model", "lit_vision.models.SwinClassifier",
        "--data=lit_vision.data.ImageFolderDataModule",
        "--model.help", "lit_vision.models.ViTClassifier",
    ]  # fmt: skip
    untouched = ["--model", "lit_vision.models.swin.SwinClassifier", "--trainer.callbacks+=ModelCheckpoint"]
    assert expand_short_names(untouched) == untouched
    assert expand_short_names(["--trainer.callbacks+=ProgressLog"]) == [
        "--trainer.callbacks+=lit_vision.callbacks.ProgressLog"
    ]


def test_misspelled_short_name_suggests_the_class():
    with pytest.raises(ValueError, match="--model SwinClasifier: no such class; did you mean SwinClassifier"):
        expand_short_names(["--model", "SwinClasifier"])


def test_model_help_with_a_short_name(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--model.help", "SwinClassifier"])
    assert exit_info.value.code == 0
    assert "--model.window_size" in capsys.readouterr().out


def test_short_model_name_in_a_run(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(CONFIGS / "convmixer.yaml"), "--model", "SwinClassifier", "--print_config"])
    assert exit_info.value.code == 0
    assert "class_path: lit_vision.models.SwinClassifier" in capsys.readouterr().out
