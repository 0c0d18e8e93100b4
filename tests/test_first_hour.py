"""What a new user meets first: a quiet console with real FLOPs, no stray files, evaluation beside the trained run."""

import csv
import shutil

import pytest

from conftest import CONFIGS
from lit_vision.cli import main

CONVMIXER = str(CONFIGS / "convmixer.yaml")
CSV = str(CONFIGS / "logger/csv.yaml")
QUICK = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1"]
NOISE = ("litlogger", "anonymous setting", "git root", "LeafSpec", "LightningCLI's args", "will be deleted")


def test_fast_dev_run_is_quiet_shows_flops_and_leaves_no_files(lit_vision, tmp_path):
    result = lit_vision("fit", "--config", CONVMIXER, "--trainer.fast_dev_run", "true", env={"WANDB_SILENT": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    assert not [noise for noise in NOISE if noise in result.stdout + result.stderr]
    assert "Total FLOPs: 2.4 M" in result.stdout  # Lightning's summary: 2 x 1.2 M multiply-adds of the digits ConvMixer
    assert sorted(path.name for path in tmp_path.iterdir()) == []  # no ./checkpoints/last.ckpt, no logs/


def run(args: list[str]) -> None:
    try:
        main(args)
    except SystemExit as exit_info:
        assert exit_info.code in (0, None)


def rows(path) -> list[dict]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_test_validate_predict_of_a_checkpoint_stay_in_its_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run(["fit", "--config", CONVMIXER, "--config", CSV, *QUICK, "--test_after_fit", "false"])
    version = tmp_path / "logs/convmixer/version_0"  # the config's run name
    assert (version / "checkpoints/last.ckpt").is_file()
    trained = rows(version / "metrics.csv")

    run(["test", "--config", CONVMIXER, "--config", CSV, "--ckpt_path", "last"])
    run(["predict", "--config", CONVMIXER, "--config", CSV, "--ckpt_path", "best"])
    assert sorted(path.name for path in (tmp_path / "logs/convmixer").iterdir()) == ["version_0"]  # no new version
    tested = rows(version / "metrics.csv")
    assert [row["val/acc"] for row in tested[: len(trained)]] == [row["val/acc"] for row in trained]  # kept
    assert tested[-1]["test/acc"]  # appended beside the training rows
    predictions = rows(version / "predictions.csv")
    assert len(predictions) == 270 and list(predictions[0])[:3] == ["path", "class_1", "prob_1"]  # the test split

    elsewhere = tmp_path / "copy.ckpt"  # a checkpoint outside any run directory: console only
    shutil.copy(version / "checkpoints/last.ckpt", elsewhere)
    run(["validate", "--config", CONVMIXER, "--config", CSV, "--ckpt_path", str(elsewhere)])
    assert "val/acc" in capsys.readouterr().out
    assert sorted(path.name for path in (tmp_path / "logs/convmixer").iterdir()) == ["version_0"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["copy.ckpt", "logs"]


@pytest.mark.parametrize("which", ["best", "last"])
def test_best_and_last_need_a_run_of_this_config(which, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(["test", "--config", CONVMIXER, "--config", CSV, "--ckpt_path", which])
    assert (
        f"--ckpt_path {which}: no checkpoint of this config in logs/convmixer/*/checkpoints" in capsys.readouterr().err
    )
