"""`lit-vision average`: the mean of the newest N checkpoints' weights, tested like any other checkpoint."""

import pytest
import torch

from lit_vision.average import average_checkpoints, average_state_dicts, select_checkpoints
from lit_vision.commands import main


def write_checkpoint(path, step, value, **extra):
    state = {"w": torch.full((2, 3), float(value)), "count": torch.tensor(step)}
    torch.save({"global_step": step, "epoch": 0, "state_dict": state, **extra}, path)


def test_average_of_the_newest_checkpoints(tmp_path):
    for step, value in ((10, 1.0), (20, 2.0), (30, 4.0), (40, 8.0)):
        write_checkpoint(tmp_path / f"step{step:03d}.ckpt", step, value)
    write_checkpoint(tmp_path / "last.ckpt", 40, 8.0)  # the same step as step040: counted once
    used = average_checkpoints(tmp_path, 3, tmp_path / "avg.ckpt")
    assert [p.name for p in used] == ["step020.ckpt", "step030.ckpt", "step040.ckpt"]
    averaged = torch.load(tmp_path / "avg.ckpt", weights_only=True)
    torch.testing.assert_close(averaged["state_dict"]["w"], torch.full((2, 3), 14.0 / 3))
    assert averaged["state_dict"]["count"] == 40 and averaged["global_step"] == 40  # the rest from the newest
    assert averaged["averaged_checkpoints"] == ["step020.ckpt", "step030.ckpt", "step040.ckpt"]
    # the average itself is never averaged again
    assert [p.name for p, _ in select_checkpoints(tmp_path, 4)][0] == "step010.ckpt"


def test_average_errors_are_one_line(tmp_path, capsys):
    write_checkpoint(tmp_path / "a.ckpt", 1, 1.0)
    with pytest.raises(SystemExit) as exit_info:
        main(["average", "--ckpt_dir", str(tmp_path), "--last", "2", "--output", str(tmp_path / "avg.ckpt")])
    assert exit_info.value.code == 2
    assert "lit-vision: error: --ckpt_dir" in capsys.readouterr().err
    with pytest.raises(ValueError, match="is not a directory"):
        select_checkpoints(tmp_path / "nope", 1)
    with pytest.raises(ValueError, match="--last 0 must be >= 1"):
        select_checkpoints(tmp_path, 0)
    (tmp_path / "broken.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="broken.ckpt is not a readable checkpoint"):
        select_checkpoints(tmp_path, 1)
    with pytest.raises(ValueError, match="a: w has shape"):
        average_state_dicts([{"w": torch.zeros(2)}, {"w": torch.zeros(3)}], ["a", "b"])
