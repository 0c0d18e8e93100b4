import csv
import sys
from types import SimpleNamespace

import pytest
import torch

from dataset_fixtures import write_image_tree, write_jpeg
from helpers import CONFIGS
from lit_vision.callbacks.prediction_writer import PredictionWriter
from lit_vision.cli import LitVisionCLI


def read_csv(path) -> list[list[str]]:
    with open(path, newline="") as file:
        return list(csv.reader(file))


def test_rows_hold_paths_top_k_class_names_and_probabilities(tmp_path):
    writer = PredictionWriter(str(tmp_path / "out" / "p.csv"), top_k=2)
    trainer = SimpleNamespace(world_size=1, global_rank=0)
    module = SimpleNamespace(num_classes=3, class_names=["cat", "dog", "eel"])
    writer.on_predict_start(trainer, module)
    probabilities = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])
    writer.write_on_batch_end(trainer, module, probabilities, None, (torch.zeros(2), ("a.jpg", "b.png")), 0)
    module.class_names = None
    writer.write_on_batch_end(trainer, module, probabilities[:1], None, (torch.zeros(1), torch.tensor([0])), 1)
    writer.on_predict_end(trainer, module)
    assert read_csv(tmp_path / "out" / "p.csv") == [
        ["path", "class_1", "prob_1", "class_2", "prob_2"],
        ["a.jpg", "dog", "0.700000", "eel", "0.200000"],
        ["b.png", "cat", "0.500000", "eel", "0.300000"],
        ["2", "1", "0.700000", "2", "0.200000"],  # no paths, no names: running index and class indices
    ]
    with pytest.raises(ValueError, match="top_k=0"):
        PredictionWriter(top_k=0)


def test_lit_vision_predict_writes_csv_with_the_checkpoint_class_names(tmp_path, monkeypatch, capsys):
    """The documented command: fit the ImageNet ConvMixer config (shrunk) on a tiny tree, then
    `lit-vision predict --config configs/imagenet/convmixer_768_32.yaml --ckpt_path X --data.init_args.predict_dir imgs/`
    from another directory without the training data (class names come from the checkpoint)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lit-vision"])  # the CLI gets its arguments from args= alone
    write_image_tree(tmp_path / "imagenet", classes=("goldfish", "tabby"), splits={"train": 4, "val": 2}, size=(40, 30))
    config = str(CONFIGS / "imagenet" / "convmixer_768_32.yaml")
    small = ["--model.init_args.dim", "8", "--model.init_args.depth", "1", "--data.init_args.image_size", "28",
             "--data.init_args.batch_size", "4", "--data.init_args.num_workers", "0",
             "--trainer.precision", "32-true", "--trainer.enable_progress_bar", "false",
             "--model.init_args.compile", "false"]  # fmt: skip
    LitVisionCLI(args=["fit", "--config", config, *small, "--data.init_args.data_dir", "imagenet",
                       "--trainer.max_epochs", "1"])  # fmt: skip
    ckpt = tmp_path / "logs" / "imagenet_convmixer_768_32" / "version_0" / "checkpoints" / "last.ckpt"
    assert torch.load(ckpt, weights_only=False)["class_names"] == ["goldfish", "tabby"]

    imgs = tmp_path / "imgs"
    write_jpeg(imgs / "b.jpg", 50, 20, seed=1)
    write_jpeg(imgs / "sub" / "a.png.jpg", 23, 64, seed=2)
    (imgs / "broken.jpg").write_bytes(b"not an image")
    (imgs / "notes.txt").write_text("skipped: not an image")
    out = tmp_path / "elsewhere"
    out.mkdir()
    monkeypatch.chdir(out)
    with pytest.warns(UserWarning, match="skipped unreadable image .*broken.jpg"):
        LitVisionCLI(args=["predict", "--config", config, *small, "--ckpt_path", str(ckpt),
                           "--data.init_args.data_dir", "no-data-here", "--data.init_args.num_classes", "2",
                           "--data.init_args.predict_dir", str(imgs)])  # fmt: skip
    rows = read_csv(out / "predictions.csv")
    assert rows[0] == ["path", "class_1", "prob_1", "class_2", "prob_2"]
    assert [row[0] for row in rows[1:]] == [str(imgs / "b.jpg"), str(imgs / "sub" / "a.png.jpg")]
    for row in rows[1:]:
        assert {row[1], row[3]} == {"goldfish", "tabby"}
        assert float(row[2]) >= float(row[4]) and float(row[2]) + float(row[4]) == pytest.approx(1, abs=1e-5)
    assert "wrote 2 predictions" in capsys.readouterr().out
