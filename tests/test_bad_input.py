"""Bad input ends in one line that names the problem and the fix, and nothing already trained is lost.

One table row per check: the arguments after `lit-vision fit --config configs/convmixer.yaml` (with `{tmp}` standing
for the test's directory, where `make_files` puts checkpoints) and a fragment of the expected error line. Add a row
with every new check.
"""

import re
from pathlib import Path

import pytest
import torch

from helpers import CONFIGS

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
    torch.save({"state_dict": convmixer.state_dict()}, tmp / "weights_only.ckpt")  # no Lightning training state
    (tmp / "invalid.yaml").write_text("trainer:\n  max_epochs: 2\n   bad: [\n")
    (tmp / "typo.yaml").write_text("model:\n  class_path: lit_vision.models.ConvMixerClasifier\n")
    (tmp / "a_file").write_text("not a directory")


BAD_INPUT = [
    # checkpoints
    (["--ckpt_path", "{tmp}/missing.ckpt"], "--ckpt_path {tmp}/missing.ckpt: no such file"),
    (["--ckpt_path", "{tmp}/random.ckpt"], "random.ckpt is not a readable checkpoint (4096 bytes, not the zip archive torch.save writes)"),
    (["--ckpt_path", "{tmp}/truncated.ckpt"], "bytes, a zip archive cut short); it is truncated, corrupt or not a torch.save file"),
    (["--ckpt_path", "{tmp}/plain_dict.ckpt"], "plain_dict.ckpt is not a Lightning checkpoint: it holds a dict with keys note, weights"),
    (["--ckpt_path", "{tmp}/vit.ckpt"], "vit.ckpt was saved from lit_vision.models.ViTClassifier, but the config builds lit_vision.models.ConvMixerClassifier"),
    (["--ckpt_path", "{tmp}/dim32.ckpt"], "tensor(s) of other shapes (e.g. net."),
    (["--ckpt_path", "{tmp}/weights_only.ckpt"], "weights_only.ckpt holds weights only (no pytorch-lightning_version, global_step, optimizer_states, loops); `lit-vision fit --ckpt_path` resumes a run"),
    # config files and names
    (["--config", "{tmp}/invalid.yaml"], "--config {tmp}/invalid.yaml:3:7: invalid YAML (mapping values are not allowed here); fix that line"),
    (["--config", "{tmp}/typo.yaml"], "class_path lit_vision.models.ConvMixerClasifier does not exist; did you mean lit_vision.models.ConvMixerClassifier?"),
    (["--model", "SwinClasifier"], "--model SwinClasifier: no such class; did you mean SwinClassifier?"),
    (["--trainer.precision", "8"], "--trainer.precision 8: not a precision Lightning knows; use 32-true (default), bf16-mixed"),
    # where the run writes
    (["--trainer.logger.init_args.save_dir", "{tmp}/a_file/logs"], "--trainer.logger.init_args.save_dir {tmp}/a_file/logs: cannot write there ({tmp}/a_file is a file); pass a writable directory"),
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


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--trainer.max_epochs", "0"], "--trainer.max_epochs 0 trains nothing; give a positive number of epochs"),
        (["--trainer.max_steps", "0"], "--trainer.max_steps 0 trains nothing"),
        (["--trainer.limit_train_batches", "0"], "--trainer.limit_train_batches 0 trains nothing"),
    ],
)
def test_settings_that_train_nothing_stop(args, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert expected in one_line_error(["fit", "--config", CONVMIXER, *args], capsys)


@pytest.mark.parametrize("command", ["validate", "test", "predict"])
def test_evaluation_without_weights_stops(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    line = one_line_error([command, "--config", CONVMIXER], capsys)
    assert f"`lit-vision {command}` without --ckpt_path would score a randomly initialized model" in line
    assert "pass --ckpt_path best, last (of this config's newest run) or PATH" in line
    line = one_line_error([command, "--config", CONVMIXER, "--ckpt_path", "last"], capsys)
    assert "--ckpt_path last: no checkpoint of this config in logs/lit-vision/*/checkpoints; train one first" in line


def test_unwritable_log_directory(tmp_path, monkeypatch, capsys):
    """A read-only directory (simulated: tests may run as root, who may write anywhere)."""
    import tempfile

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", read_only)
    line = one_line_error(["fit", "--config", CONVMIXER, "--trainer.fast_dev_run", "true"], capsys)
    assert line.endswith(
        "--trainer.logger.init_args.save_dir logs: cannot write there (Permission denied); pass a writable "
        "directory, e.g. --trainer.logger.init_args.save_dir ~/lit-vision-logs, or fix its permissions"
    )


def test_image_folder_with_one_class(tmp_path, monkeypatch, capsys):
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    for split in ("train", "val"):
        (tmp_path / "data" / split / "cat").mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "data" / split / "cat" / "0.png")
    line = one_line_error(
        ["fit", "--config", CONVMIXER, "--data", "ImageFolderDataModule", "--data.data_dir", "data"], capsys
    )
    assert "data/train has one class folder (cat); a classifier needs two or more: add a folder per class" in line


TIMM = str(CONFIGS / "timm.yaml")
TIMM_RESNET = ["--model.init_args.model_name", "resnet10t", "--model.init_args.model_kwargs", "{}"]


def test_timm_pretrained_file_missing_or_of_another_architecture(tmp_path, monkeypatch, capsys):
    import timm

    monkeypatch.chdir(tmp_path)
    args = ["fit", "--config", TIMM, *TIMM_RESNET, "--trainer.fast_dev_run", "true"]
    line = one_line_error([*args, "--model.init_args.pretrained_file", "missing.pth"], capsys)
    assert "pretrained_file='missing.pth' is not a file; give a .safetensors / .pth / .bin file" in line
    torch.save(timm.create_model("resnet18", num_classes=10).state_dict(), tmp_path / "resnet18.pth")
    line = one_line_error([*args, "--model.init_args.pretrained_file", "resnet18.pth"], capsys)
    assert "pretrained_file='resnet18.pth': the weights do not fit resnet10t (" in line
    assert "of other shapes (e.g. " in line and "give weights of this model" in line


def write_sweep(tmp_path: Path, parameters: dict) -> Path:
    import yaml

    sweep = {
        "method": "random",
        "metric": {"name": "val/acc", "goal": "maximize"},
        "parameters": parameters,
        "command": ["lit-vision", "fit", "--config", CONVMIXER, "${args}"],
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    return path


def test_sweep_with_a_misspelled_parameter_stops_before_the_first_trial(tmp_path, monkeypatch, capsys):
    from lit_vision.commands import main as lit_vision

    monkeypatch.chdir(tmp_path)
    path = write_sweep(tmp_path, {"model.init_args.detph": {"values": [2, 4]}})
    with pytest.raises(SystemExit) as exit_info:
        lit_vision(["sweep", str(path), "--count", "2", "--out_dir", "out"])
    assert exit_info.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"lit-vision: error: {path}: a trial's command line does not parse (") and "detph" in line
    assert not (tmp_path / "out" / "results.csv").exists() and not (tmp_path / "logs").exists()  # no trial ran


def test_sweep_whose_every_trial_failed_exits_non_zero(tmp_path, monkeypatch, capsys):
    from lit_vision.commands import main as lit_vision

    monkeypatch.chdir(tmp_path)
    path = write_sweep(tmp_path, {"data.init_args.batch_size": {"values": [-4]}})  # parses, fails when built
    with pytest.raises(SystemExit) as exit_info:
        lit_vision(["sweep", str(path), "--count", "1", "--out_dir", "out", "--", "--trainer.fast_dev_run=true"])
    assert exit_info.value.code == 1
    assert f"lit-vision: error: every trial of {path} failed" in capsys.readouterr().err
