"""ProgressLog: plain lines with epoch, step, elapsed time, ETA, throughput and metrics when stdout is a file."""

import re

import pytest
from callback_fit import tiny_fit

from lit_vision.callbacks.progress_log import ProgressLog

LINE = re.compile(r"^epoch (\d+)/2 step (\d+)/4 \| \d+:\d\d:\d\d elapsed, ETA \d+:\d\d:\d\d \| \d+ samples/s \| (.*)$")


def test_one_line_per_epoch_and_every_n_steps_with_metrics(tmp_path, capsys):
    tiny_fit(tmp_path, [ProgressLog(every_n_steps=1)], max_epochs=2)  # capsys: stdout is not a terminal
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    # step 1 (step line), step 2 (end of epoch 1: epoch line), step 3, step 4 (end of epoch 2)
    assert [(int(m.group(1)), int(m.group(2))) for m in parsed] == [(1, 1), (1, 2), (2, 3), (2, 4)]
    assert "train/loss" in parsed[0].group(3) and "val/" not in parsed[0].group(3)  # step lines: step metrics
    assert "val/acc" in parsed[1].group(3) and "train/acc" in parsed[1].group(3)  # epoch lines: train and val


def test_default_prints_epoch_lines_only_for_short_epochs(tmp_path, capsys):
    tiny_fit(tmp_path, [ProgressLog()], max_epochs=2)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert [line.split(" |")[0] for line in lines] == ["epoch 1/2 step 2/4", "epoch 2/2 step 4/4"]


def test_bad_interval():
    with pytest.raises(ValueError, match="every_n_steps=-1 must be >= 0"):
        ProgressLog(every_n_steps=-1)
