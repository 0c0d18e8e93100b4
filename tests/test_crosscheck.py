"""`lit-vision crosscheck`: each architecture matches its reference twin; an altered network is caught."""

import pytest
import torch

from conftest import CONFIGS
from lit_vision.crosscheck import command

SMALL = {  # small networks and batches keep the run fast; the architecture of each config is unchanged
    "vit": ["--model.init_args.depth", "1"],
    "swin": ["--model.init_args.depths", "[1, 1]"],
    "convmixer": ["--model.init_args.depth", "1"],
    "fccn": ["--model.init_args.widths", "[8, 8]"],
    "transformer": ["--model.init_args.num_encoder_layers", "1", "--model.init_args.num_decoder_layers", "1"],
}
QUICK = ["--batch_size", "8", "--seconds", "0.01", "--steps", "3"]


def crosscheck(name: str, *extra: str) -> int:
    return command.run(["--config", str(CONFIGS / f"{name}.yaml"), *SMALL[name], *QUICK, *extra])


@pytest.mark.parametrize("name", list(SMALL))
def test_twins_agree(name, capsys):
    assert crosscheck(name) == 0
    out = capsys.readouterr().out
    for row in ("outputs max abs diff", "gradients max abs diff", "parameters (real numbers)", "MACs per sample",
                "train step samples/s", "inference samples/s", "loss curves max rel diff"):  # fmt: skip
        assert row in out
    params = next(line for line in out.splitlines() if "parameters" in line)
    assert "equal" in params
    assert "FAIL" not in out


def test_altered_network_fails_with_a_clear_line(monkeypatch, capsys):
    from lit_vision.nn import convmixer

    def no_residual(self, x: torch.Tensor) -> torch.Tensor:  # our block loses its residual; timm's twin keeps it
        x = self.norm1(self.act1(self.depthwise(x)))
        return self.norm2(self.act2(self.pointwise(x)))

    monkeypatch.setattr(convmixer.ConvMixerBlock, "forward", no_residual)
    assert crosscheck("convmixer") == 1
    captured = capsys.readouterr()
    assert "FAIL" in captured.out
    assert "lit-vision: crosscheck failed: outputs differ by" in captured.err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on machines without a GPU")
def test_cuda_without_gpu_is_one_line(capsys):
    assert crosscheck("convmixer", "--device", "cuda", "--precision", "bf16-mixed") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("lit-vision: error: --device cuda: no CUDA GPU on this machine")


def test_bf16_mixed_runs_speed_and_training_in_bf16(capsys):
    assert crosscheck("convmixer", "--precision", "bf16-mixed") == 0
    out = capsys.readouterr().out
    assert "precision bf16-mixed" in out and "(tol 5e-02) ok" in out
