"""Docs that run: every command in README.md's ```bash blocks is executed, in README order, in one working directory
(so `test --ckpt_path best` finds the run an earlier `fit` wrote), with short-run overrides appended; every ```python
block is executed too. A wrong path or a renamed option in README fails here.

How a command is run (for whoever adds a README section):
- `lit-vision fit/validate/test/predict ...` runs in-process with `SHORT_RUN` appended (one epoch of two batches);
  `--help`, `.help` and `--print_config` run as they are; `sweep` runs one trial (`--count 1`) of the same short run;
  other commands get the extra arguments in `COMMAND_ARGS` (e.g. `crosscheck --steps 2`).
- `--ckpt_path X` (a placeholder) becomes `last.ckpt` of a short `fit` of the command's first `--config`.
- `my_images` is a small ImageFolder tree made here (`make_image_folder`); wandb runs in `disabled` mode.
- Skipped, with the reason in the test id: lines matching `SKIP` (make, SLURM, docker, several processes or a GPU),
  placeholders (`<...>`, `...`, `/path/to`), and data paths that are not in the repository or made here.
"""

import re
import shlex
from pathlib import Path

import pytest

from conftest import CONFIGS

ROOT = CONFIGS.parent

README = ROOT / "README.md"
SHORT_RUN = [
    "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
    "--trainer.limit_test_batches", "1", "--trainer.limit_predict_batches", "1", "--trainer.num_sanity_val_steps", "0",
]  # fmt: skip
LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")
COMMAND_ARGS = {"crosscheck": ["--seconds", "0.1", "--batch_size", "8"]}
REPLACE = [(re.compile(r"--steps \d+"), "--steps 2"), (re.compile(r"--count \d+"), "--count 1")]
SKIP = [
    (r"^make ", "make installs the virtualenv; `make train` is checked by test_make_train_passes_config_and_args"),
    (r"^source ", "shell set-up"),
    (r"^sbatch ", "needs SLURM (tests/test_slurm.py)"),
    (r"^docker ", "needs docker (tests/test_docker.py)"),
    (r"configs/trainer/ddp|--trainer\.strategy ddp|--trainer\.devices [2-9]", "several processes (tests/test_ddp.py)"),
    (r"--device cuda|--trainer\.accelerator (gpu|cuda)|bf16", "needs a GPU"),
]
PLACEHOLDERS = re.compile(r"<[^>]+>|(^|\s)\.\.\.(\s|$)|/path/to|/datasets/")
DATA_OPTIONS = re.compile(r"--data\.(?:init_args\.)?(data_dir|text_path|predict_path|tokenizer_path) (\S+)")


def readme_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), re.S)


def readme_commands() -> list[str]:
    """Each command of the bash blocks, continuation lines joined, comments dropped."""
    commands = []
    for block in readme_blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line and not line.startswith("#"):
                commands.append(re.sub(r"\s+", " ", line))
    return commands


def skip_reason(command: str, cwd: Path | None = None) -> str | None:
    for pattern, reason in SKIP:
        if re.search(pattern, command):
            return reason
    if PLACEHOLDERS.search(command):
        return "a placeholder stands for the user's value"
    for _, path in DATA_OPTIONS.findall(command):
        if not path.startswith("my_images") and not (ROOT / path).exists():  # my_images_shards: made by the README
            return f"needs data that is not in the repository ({path})"
    return None


COMMANDS = readme_commands()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """Where the README's commands run, in order: configs/ and sweeps/ of the repository, my_images/ made here."""
    root = tmp_path_factory.mktemp("readme")
    for name in ("configs", "sweeps"):
        (root / name).symlink_to(ROOT / name)
    make_image_folder(root / "my_images")
    return root


def make_image_folder(root: Path) -> None:
    from PIL import Image

    for split in ("train", "val"):
        for label, color in (("cat", (200, 40, 40)), ("dog", (40, 40, 200))):
            folder = root / split / label
            folder.mkdir(parents=True)
            for index in range(4):
                Image.new("RGB", (40, 40), tuple(c + 5 * index for c in color)).save(folder / f"{index}.png")


def run(argv: list[str]) -> None:
    from lit_vision.commands import main

    try:
        main(argv)
    except SystemExit as exit_info:
        assert exit_info.code in (0, None), f"`lit-vision {shlex.join(argv)}` exited {exit_info.code}"


def checkpoint_for(argv: list[str]) -> str:
    """`last.ckpt` of a short fit of the command's first --config (the README's `--ckpt_path X`)."""
    config = argv[argv.index("--config") + 1]
    save_dir = f"readme_checkpoints/{Path(config).stem}"
    found = sorted(Path(save_dir).glob("*/version_*/checkpoints/last.ckpt"))
    if not found:
        run(["fit", "--config", config, "--config", "configs/logger/csv.yaml", "--trainer.logger.init_args.save_dir",
             save_dir, *SHORT_RUN, "--test_after_fit", "false"])  # fmt: skip
        found = sorted(Path(save_dir).glob("*/version_*/checkpoints/last.ckpt"))
    return str(found[-1])


def as_run(command: str) -> list[str]:
    for pattern, replacement in REPLACE:
        command = pattern.sub(replacement, command)
    argv = shlex.split(command)[1:]  # after `lit-vision`
    if "X" in argv:
        argv[argv.index("X")] = checkpoint_for(argv)
    if not argv or any(arg in ("--help", "-h", "--print_config") or arg.endswith(".help") for arg in argv):
        return argv
    if argv[0] in LIGHTNING_COMMANDS:
        return argv + SHORT_RUN
    if argv[0] == "sweep":
        extra = [f"{name}={value}" for name, value in zip(SHORT_RUN[::2], SHORT_RUN[1::2])]
        return argv + (["--"] if "--" not in argv else []) + extra
    return argv + COMMAND_ARGS.get(argv[0], [])


@pytest.mark.parametrize("command", COMMANDS, ids=[f"{i:02d} {c[:70]}" for i, c in enumerate(COMMANDS)])
def test_readme_command_runs(command, workdir, monkeypatch):
    reason = skip_reason(command)
    if reason:
        pytest.skip(reason)
    if not command.startswith("lit-vision"):
        pytest.fail(f"README command is neither run nor skipped with a reason: {command}")
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("WANDB_MODE", "disabled")  # the same code paths without a wandb process per run (time)
    run(as_run(command))


@pytest.mark.parametrize("block", readme_blocks("python"))
def test_readme_python_runs(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(block, str(README), "exec"), {})


def test_make_train_passes_config_and_args():
    recipe = re.search(r"^train:.*\n\t(.*)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert recipe == "$(BIN)/lit-vision fit --config $(CONFIG) $(ARGS)"
    assert any("make train ARGS=" in block for block in [README.read_text()])


def test_readme_has_the_first_hour_sections():
    text = README.read_text()
    assert "## Train on your own images" in text and "--data ImageFolderDataModule" in text
    assert "logs/lit-vision/<run id>/" in text and "logs/convmixer/version_<n>/metrics.csv" in text
