"""The `lit-vision` command as users type it: overrides, stacked configs, repeat runs, printed config, bad input."""

import pytest
import torch
import yaml

from helpers import CONFIGS
from lit_vision.cli import main  # at import time, so Lightning's log handler never binds a captured stream

CONVMIXER = str(CONFIGS / "convmixer.yaml")
QUICK = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "2"]


def run_configs(root) -> list:
    return sorted((root / "logs").rglob("config.yaml"))


def test_override_on_command_line_and_test_after_fit(lit_vision, tmp_path):
    result = lit_vision("fit", "--config", CONVMIXER, "--model.init_args.depth", "2", *QUICK)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test/acc" in result.stdout  # test ran with the best checkpoint and printed its metrics
    (config,) = run_configs(tmp_path)  # logs/<project>/<run id>/config.yaml, the run's own directory
    saved = yaml.safe_load(config.read_text())
    assert saved["model"]["init_args"]["depth"] == 2
    checkpoints = sorted((config.parent / "checkpoints").glob("*.ckpt"))
    assert checkpoints
    hparams = torch.load(checkpoints[0], map_location="cpu", weights_only=False)["hyper_parameters"]
    assert (hparams["num_classes"], hparams["in_chans"], hparams["image_size"]) == (10, 1, 8)  # linked from the data


def test_second_run_in_same_folder_gets_its_own_config(lit_vision, tmp_path):
    for _ in range(2):
        result = lit_vision("fit", "--config", CONVMIXER, *QUICK, "--test_after_fit", "false")
        assert result.returncode == 0, result.stderr[-3000:]
    first, second = run_configs(tmp_path)
    assert first.parent != second.parent


def test_stacked_configs_and_print_config(lit_vision, tmp_path):
    extra = tmp_path / "short.yaml"
    extra.write_text("trainer:\n  max_epochs: 3\nmodel:\n  init_args:\n    dim: 32\n")
    result = lit_vision("fit", "--config", CONVMIXER, "--config", str(extra), "--print_config")
    assert result.returncode == 0, result.stderr[-3000:]
    printed = yaml.safe_load(result.stdout)
    assert printed["trainer"]["max_epochs"] == 3
    assert printed["model"]["init_args"]["dim"] == 32
    assert printed["model"]["init_args"]["depth"] == 4  # from the first file


def one_line_error(args: list[str], capsys) -> str:
    """Run `lit-vision ARGS` in-process; it must exit non-zero with a single `lit-vision: error:` line."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines[-1].startswith("lit-vision: error:"), err[-2000:]
    return lines[-1]


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--model.init_args.bogus", "3"], "Option 'bogus' is not accepted"),
        (["--model.init_args.depth", "abc"], "model.init_args.depth: Expected a <class 'int'>"),
        (["--data.init_args.batch_size", "-4"], "batch_size=-4 must be a positive number"),
        (["--model.init_args.patch_size", "3"], "image_size=8 is not divisible by patch_size=3"),
        (["--trainer.max_epochs", "x"], "trainer.max_epochs: Expected a <class 'int'>"),
    ],
)
def test_bad_input_gives_one_line_errors(args, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = one_line_error(["fit", "--config", CONVMIXER, *args, "--trainer.fast_dev_run", "true"], capsys)
    assert expected in line


def test_missing_config_file_from_the_real_command(lit_vision):
    result = lit_vision("fit", "--config", "missing.yaml")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "File does not exist" in result.stderr.strip().splitlines()[-1] and "missing.yaml" in result.stderr


@pytest.mark.parametrize("args", [["--optimizer", "AdamW"], ["--lr_scheduler", "StepLR"], ["--optimizer.lr", "0.1"]])
def test_the_optimizer_is_set_one_way_through_the_model(args, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = one_line_error(["fit", "--config", CONVMIXER, *args], capsys)
    assert "is not an option: the model sets its optimizer" in line and "--model.init_args.optimizer" in line


def test_an_optimizer_section_in_a_config_gets_the_same_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    extra = tmp_path / "optimizer.yaml"
    extra.write_text("optimizer:\n  class_path: torch.optim.AdamW\n")
    line = one_line_error(["fit", "--config", CONVMIXER, "--config", str(extra)], capsys)
    assert "--optimizer is not an option" in line
