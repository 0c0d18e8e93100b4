"""Bad input ends in one line that names the problem and the fix, and nothing already trained is lost.

One table row per check: the arguments after `lit-vision fit --config configs/convmixer.yaml` (with `{tmp}` standing
for the test's directory, where `make_files` puts checkpoints) and a fragment of the expected error line. Add a row
with every new check.
"""

import re
from pathlib import Path

import pytest
import torch

from conftest import CONFIGS

# imported at collection, not inside a captured test: Lightning's logging handler must not bind to a closed stream
from lit_vision.cli import main
from lit_vision.models.convmixer import ConvMixerClassifier
from lit_vision.nn.vit import VisionTransformer

CONVMIXER = str(CONFIGS / "convmixer.yaml")
INFRA = """
trainer:
  logger:
    class_path: lightning.pytorch.loggers.CSVLogger
    init_args: {save_dir: logs, name: run}
  callbacks:
    - class_path: lit_vision.callbacks.checkpoint.LastCheckpoint
      init_args: {every_n_train_steps: 1000}
"""


def lightning_checkpoint(state_dict: dict, class_path: str) -> dict:
    """The parts of a Lightning checkpoint that matter before restoring it."""
    return {
        "state_dict": state_dict,
        "hyper_parameters": {"_class_path": class_path},
        "pytorch-lightning_version": "2.6.0",
        "epoch": 0,
        "global_step": 0,
    }


def make_files(tmp: Path) -> None:
    convmixer = ConvMixerClassifier(
        dim=64, depth=4, kernel_size=3, patch_size=1, num_classes=10, in_chans=1, image_size=8
    )
    good = lightning_checkpoint(convmixer.state_dict(), "lit_vision.models.ConvMixerClassifier")
    torch.save(good, tmp / "good.ckpt")
    data = (tmp / "good.ckpt").read_bytes()
    (tmp / "truncated.ckpt").write_bytes(data[: len(data) // 2])
    (tmp / "random.ckpt").write_bytes(
        torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0)).byte().numpy().tobytes()
    )
    torch.save({"weights": torch.ones(3), "note": "not from Lightning"}, tmp / "plain_dict.ckpt")
    vit = VisionTransformer(img_size=8, patch_size=2, in_chans=1, num_classes=10, embed_dim=32, depth=2, num_heads=2)
    state = {f"net.{name}": value for name, value in vit.state_dict().items()}
    torch.save(lightning_checkpoint(state, "lit_vision.models.ViTClassifier"), tmp / "vit.ckpt")
    smaller = ConvMixerClassifier(
        dim=32, depth=4, kernel_size=3, patch_size=1, num_classes=10, in_chans=1, image_size=8
    )
    torch.save(lightning_checkpoint(smaller.state_dict(), "lit_vision.models.ConvMixerClassifier"), tmp / "dim32.ckpt")


BAD_INPUT = [
    # checkpoints
    (["--ckpt_path", "{tmp}/missing.ckpt"], "--ckpt_path {tmp}/missing.ckpt: no such file"),
    (["--ckpt_path", "{tmp}/random.ckpt"], "random.ckpt is not a readable checkpoint (4096 bytes, not the zip archive torch.save writes)"),
    (["--ckpt_path", "{tmp}/truncated.ckpt"], "bytes, a zip archive cut short); it is truncated, corrupt or not a torch.save file"),
    (["--ckpt_path", "{tmp}/plain_dict.ckpt"], "plain_dict.ckpt is not a Lightning checkpoint: it holds a dict with keys note, weights"),
    (["--ckpt_path", "{tmp}/vit.ckpt"], "vit.ckpt was saved from lit_vision.models.ViTClassifier, but the config builds lit_vision.models.ConvMixerClassifier"),
    (["--ckpt_path", "{tmp}/dim32.ckpt"], "tensor(s) of other shapes (e.g. net."),
    # devices, accelerator, precision, nodes against this machine (no GPU here)
    (["--trainer.devices", "64", "--trainer.accelerator", "cpu"], "--trainer.devices 64: on the CPU each device is one training process"),
    (["--trainer.accelerator", "gpu"], "--trainer.accelerator gpu: no CUDA GPU is visible here"),
    (["--trainer.accelerator", "cuda", "--trainer.devices", "2"], "use --trainer.accelerator cpu"),
    (["--trainer.precision", "transformer-engine"], "--trainer.precision transformer-engine needs an NVIDIA GPU"),
    (["--trainer.num_nodes", "2"], "--trainer.num_nodes 2 needs a launcher"),
    # training that goes wrong
    (["--model.init_args.optimizer.init_args.lr", "1e30", "--model.init_args.warmup_epochs", "0"], "training loss is nan at step"),
    (["--trainer.callbacks+=lit_vision.callbacks.checkpoint.LastCheckpoint", "--trainer.callbacks.every_n_train_steps", "0"], "every_n_train_steps=0 must be >= 1"),
]  # fmt: skip
CUDA_ONLY = {"--trainer.accelerator gpu: no CUDA GPU", "use --trainer.accelerator cpu", "needs an NVIDIA GPU"}


def one_line_error(args: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines[-1].startswith("lit-vision: error: "), err[-2000:]
    return lines[-1]


@pytest.fixture
def fit(tmp_path, monkeypatch, capsys):
    """`fit(*args)` runs `lit-vision fit --config convmixer.yaml ARGS` in-process; returns its one error line."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LIT_VISION_DEBUG", raising=False)
    (tmp_path / "infra.yaml").write_text(INFRA)

    def run(*args: str) -> str:
        return one_line_error(["fit", "--config", CONVMIXER, "--config", "infra.yaml", *args], capsys)

    return run


@pytest.mark.parametrize("args,expected", BAD_INPUT, ids=[expected.split(":")[0][:40] for _, expected in BAD_INPUT])
def test_bad_input_is_one_line(args, expected, fit, tmp_path):
    if torch.cuda.is_available() and any(fragment in expected for fragment in CUDA_ONLY):
        pytest.skip("checks the error on a machine without a GPU")
    make_files(tmp_path)
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    line = fit(
        *args, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "5", "--trainer.limit_val_batches", "1"
    )
    assert expected.replace("{tmp}", str(tmp_path)) in line, line


def test_nan_loss_stops_with_step_and_hint_and_keeps_last_checkpoint(fit, tmp_path):
    line = fit("--model.init_args.optimizer.init_args.lr", "1e30", "--model.init_args.warmup_epochs", "0")
    assert "training loss is nan at step" in line and "lower the learning rate" in line
    step = int(re.search(r"at step (\d+)", line).group(1))
    last = tmp_path / "logs/run/version_0/checkpoints/last.ckpt"  # LastCheckpoint saved on the exception
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == step  # before the failing step


def test_out_of_memory_gives_a_hint(fit, monkeypatch):
    def out_of_memory(self, x):
        raise torch.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity of 79.19 GiB of which 1.2 GiB "
            "is free. Including non-PyTorch memory, this process has 78 GiB memory in use."
        )

    monkeypatch.setattr(ConvMixerClassifier, "forward", out_of_memory)
    line = fit("--trainer.fast_dev_run", "true")
    assert "out of memory (CUDA out of memory. Tried to allocate 20.00 GiB)" in line
    assert (
        "--data.init_args.batch_size" in line and "--trainer.accumulate_grad_batches" in line and "bf16-mixed" in line
    )


def test_missing_data_directory(fit, tmp_path):
    config = CONFIGS / "cifar10/convmixer_256_8.yaml"
    if not config.exists():
        pytest.skip("no CIFAR-10 config")
    line = one_line_error_for(config, ["--data.init_args.data_dir", str(tmp_path / "nowhere")], fit)
    assert "not found" in line and "nowhere" in line


def one_line_error_for(config: Path, args: list[str], fit) -> str:
    # the fixture's base config is ConvMixer on digits; a later --config replaces model and data
    return fit("--config", str(config), "--config", "infra.yaml", *args, "--trainer.fast_dev_run", "true")


def test_debug_mode_keeps_the_traceback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIT_VISION_DEBUG", "1")
    with pytest.raises(ValueError, match="no CUDA GPU is visible"):
        main(["fit", "--config", CONVMIXER, "--trainer.accelerator", "gpu"]) if not torch.cuda.is_available() else (
            pytest.skip("GPU present")
        )


def test_sixteen_bit_mixed_precision_runs_on_the_cpu(tmp_path, monkeypatch):
    """Not an error: Lightning 2.6 autocasts to float16 on the CPU (slower than float32 there, but correct)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "infra.yaml").write_text(INFRA)
    main(["fit", "--config", CONVMIXER, "--config", "infra.yaml", "--trainer.precision", "16-mixed"]
         + ["--trainer.accelerator", "cpu", "--trainer.fast_dev_run", "true"])  # fmt: skip
