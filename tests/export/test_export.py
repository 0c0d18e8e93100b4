"""`lit-vision export`: every config exports to each format it supports and the export matches eager PyTorch."""

import json

import pytest
import timm
import torch

from helpers import CONFIGS
from lit_vision.export import command
from lit_vision.export.configured import build, real_batch
from lit_vision.export.onnx import export_onnx
from lit_vision.export.pt2 import export_pt2
from lit_vision.export.timm_dir import export_timm

# small networks keep tracing fast; the architecture of each config is unchanged
SMALL = {
    "vit": ["--model.init_args.depth", "1"],
    "swin": ["--model.init_args.depths", "[1, 1]"],
    "convmixer": ["--model.init_args.depth", "1"],
    "fccn": ["--model.init_args.widths", "[8, 8]"],
    "transformer": ["--model.init_args.num_encoder_layers", "1", "--model.init_args.num_decoder_layers", "1"],
}
FORMATS = {
    "vit": ("onnx", "pt2", "timm"),
    "swin": ("onnx", "pt2", "timm"),
    "convmixer": ("onnx", "pt2", "timm"),
    "fccn": ("onnx", "pt2"),
    "transformer": ("onnx", "pt2"),
}


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_config_exports_to_each_format(name, tmp_path):
    configured = build([str(CONFIGS / f"{name}.yaml")], SMALL[name])
    batch = real_batch(configured.datamodule, 4)
    from lit_vision.export import preprocessing

    info = preprocessing.describe(configured.module, configured.datamodule)
    for fmt in FORMATS[name]:
        out = tmp_path / fmt
        out.mkdir()
        if fmt == "onnx":
            report = export_onnx(configured.module, batch, out)
            assert report["opset"] == 18
        elif fmt == "pt2":
            report = export_pt2(configured.module, batch, out)
        else:
            report = export_timm(configured.module, batch, out, info)
        assert report["max_abs_diff"] <= command.TOLERANCE, (name, fmt, report)
        for file in report["files"]:
            assert (out / file).stat().st_size > 0


def test_command_writes_preprocessing_beside_the_export(tmp_path, capsys):
    out = tmp_path / "vit"
    args = ["--config", str(CONFIGS / "vit.yaml"), *SMALL["vit"], "--format", "onnx", "--output", str(out)]
    assert command.run([*args, "--batch_size", "4"]) == 0
    printed = capsys.readouterr().out
    assert "max abs diff" in printed and "ok" in printed
    info = json.loads((out / "preprocessing.json").read_text())
    assert info["input_size"] == [1, 16, 16]
    assert info["class_names"] == [str(i) for i in range(10)]
    assert len(info["mean"]) == len(info["std"]) == 1
    assert info["format"] == "onnx" and info["opset"] == 18 and info["files"] == ["model.onnx"]
    assert info["max_abs_diff"] <= 1e-4


def test_onnx_graph_runs_at_another_batch_size(tmp_path):
    import onnxruntime

    configured = build([str(CONFIGS / "convmixer.yaml")], SMALL["convmixer"])
    batch = real_batch(configured.datamodule, 4)
    export_onnx(configured.module, batch, tmp_path)
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"))
    images = real_batch(configured.datamodule, 7)[0]
    (logits,) = session.run(None, {"images": images.numpy()})
    with torch.no_grad():
        expected = configured.module(images)
    assert logits.shape == (7, 10)
    assert torch.allclose(torch.from_numpy(logits), expected, atol=1e-4)


def test_transformer_decodes_greedily_outside_python_modules(tmp_path):
    """encoder.onnx + decoder_step.onnx driven by a plain loop give the eager greedy tokens."""
    import onnxruntime

    from lit_vision.export import seq2seq

    configured = build([str(CONFIGS / "transformer.yaml")], SMALL["transformer"])
    batch = real_batch(configured.datamodule, 3)
    export_onnx(configured.module, batch, tmp_path)
    encoder = onnxruntime.InferenceSession(str(tmp_path / "encoder.onnx"))
    step = onnxruntime.InferenceSession(str(tmp_path / "decoder_step.onnx"))
    net = configured.module.net
    src = batch["src"]
    cross_keys, cross_values, padding = encoder.run(None, {"src": src.numpy()})
    keys, values = (t.numpy() for t in seq2seq.Seq2SeqDecoderStep(net).empty_cache(len(src)))
    tokens = torch.full((len(src), 1), net.bos_id).numpy()
    generated = []
    for t in range(6):
        feed = dict(zip(seq2seq.DECODER_INPUTS, (tokens, torch.tensor(t).numpy(), keys, values, cross_keys,
                                                  cross_values, padding)))  # fmt: skip
        logits, keys, values = step.run(None, feed)
        tokens = logits.argmax(-1)[:, None]
        generated.append(torch.from_numpy(tokens))
    from lit_vision.nn.decoding import greedy_decode

    expected = greedy_decode(net, src, max_len=6).tokens
    got = torch.cat(generated, dim=1)[:, : expected.shape[1]]
    finished = (expected == net.eos_id).cumsum(1).roll(1, 1).clamp(max=1).bool()
    finished[:, 0] = False
    assert torch.equal(got[~finished], expected[~finished])  # equal up to and including eos


def test_export_fails_above_tolerance(tmp_path, monkeypatch, capsys):
    import lit_vision.export.pt2 as pt2

    monkeypatch.setattr(pt2, "max_abs_diff", lambda *args: 0.5)
    args = ["--config", str(CONFIGS / "convmixer.yaml"), *SMALL["convmixer"], "--format", "pt2", "--output"]
    assert command.run([*args, str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "lit-vision: error: the pt2 export differs from eager PyTorch by 5.000e-01 > 1e-04" in err


@pytest.mark.parametrize(
    ("config", "extra", "message"),
    [
        ("fccn.yaml", ["--format", "timm"], "--format timm supports ViT, Swin and ConvMixer"),
        ("transformer.yaml", ["--format", "timm"], "--format timm needs a ViT, Swin or ConvMixer config"),
        (
            "fccn.yaml",
            ["--format", "onnx", "--model.init_args.norm", "whitening"],
            "FCCN layer ComplexBatchNorm2d has no real/imaginary-pair form",
        ),
        ("convmixer.yaml", ["--format", "onnx", "--batch_size", "1"], "--batch_size 1 must be >= 2"),
    ],
)
def test_one_line_errors(config, extra, message, tmp_path, capsys):
    args = ["--config", str(CONFIGS / config), *extra, "--output", str(tmp_path)]
    if config == "fccn.yaml":
        args += SMALL["fccn"]
    assert command.run(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("lit-vision: error: ") and message in lines[-1], lines


def test_missing_config_is_one_line(tmp_path, capsys):
    assert command.run(["--config", str(tmp_path / "nope.yaml"), "--format", "pt2", "--output", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err


def test_timm_round_trip_into_lit_vision_pretrained(tmp_path):
    """export --format timm -> timm.create_model("local-dir:") -> `pretrained: local-dir:` of a lit-vision model."""
    out = tmp_path / "timm"
    vit = ["--config", str(CONFIGS / "vit.yaml"), *SMALL["vit"]]
    assert command.run([*vit, "--format", "timm", "--output", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["architecture"] == "vit_base_patch16_224"
    assert config["label_names"] == [str(i) for i in range(10)]
    assert config["pretrained_cfg"]["input_size"] == [1, 16, 16]
    assert len(config["pretrained_cfg"]["mean"]) == 1
    assert (out / "model.safetensors").is_file()

    original = build(vit[1:2], SMALL["vit"])
    images = real_batch(original.datamodule, 4)[0]
    loaded = timm.create_model(f"local-dir:{out}", pretrained=True).eval()
    with torch.no_grad():
        assert torch.allclose(loaded(images), original.module(images), atol=1e-5)

    torch.manual_seed(1)  # another initialization, replaced by the exported weights
    fresh = build(
        vit[1:2], [*SMALL["vit"], "--seed_everything", "1", "--model.init_args.pretrained", f"local-dir:{out}"]
    )
    fresh.module.load_pretrained()
    with torch.no_grad():
        assert torch.allclose(fresh.module.eval()(images), original.module(images), atol=1e-5)


def test_checkpoint_weights_are_exported(tmp_path):
    """--ckpt_path replaces the initial weights: the export reproduces the checkpoint's logits, not the config's."""
    configured = build([str(CONFIGS / "convmixer.yaml")], SMALL["convmixer"])
    module = configured.module
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ckpt = tmp_path / "trained.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}, ckpt)
    images = real_batch(configured.datamodule, 4)[0]
    with torch.no_grad():
        expected = module.eval()(images)
    args = ["--config", str(CONFIGS / "convmixer.yaml"), *SMALL["convmixer"], "--ckpt_path", str(ckpt)]
    assert command.run([*args, "--format", "pt2", "--output", str(tmp_path / "out")]) == 0
    program = torch.export.load(tmp_path / "out" / "model.pt2").module()
    assert torch.allclose(program(images), expected, atol=1e-5)
