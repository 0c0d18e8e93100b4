"""wandb through the real CLI, offline and in temp dirs: fallback without an API key, what the offline run holds (read
back from its run file), run name/group/tags from the command line, log_model offline, resume from a checkpoint."""

import io
import os
import socket

import matplotlib.image
import pytest
import torch
import yaml
from jsonargparse import Namespace

from helpers import CONFIGS
from helpers.wandb_runs import offline_runs, read_offline_run
from lit_vision.cli import main
from lit_vision.loggers import CHECKPOINT_KEY, has_wandb_credentials, prepare_wandb_loggers

CONVMIXER = str(CONFIGS / "convmixer.yaml")
WANDB_FRAGMENT = str(CONFIGS / "logger" / "wandb.yaml")
QUICK = ["--trainer.max_epochs=1", "--trainer.limit_train_batches=3", "--trainer.limit_val_batches=2"]
MEDIA = """
trainer:
  callbacks:
    - class_path: lightning.pytorch.callbacks.ModelCheckpoint
      init_args: {monitor: val/acc, mode: max, save_last: true}
    - class_path: lit_vision.callbacks.ConfusionMatrixLogger
      init_args: {every_n_epochs: 1, size_px: 256}
    - class_path: lit_vision.callbacks.PredictionGridLogger
      init_args: {num_samples: 8, columns: 4, every_n_epochs: 1, cell_px: 64}
    - lit_vision.callbacks.ModelSummaryLogger
"""


@pytest.fixture
def no_network(monkeypatch):
    """Only loopback and unix sockets (wandb talks to its own service that way); anything else fails the test."""
    connect = socket.socket.connect

    def guarded(sock, address):
        if sock.family == getattr(socket, "AF_UNIX", None) or address[0] in ("127.0.0.1", "localhost", "::1"):
            return connect(sock, address)
        raise AssertionError(f"a test tried to reach the network: {address}")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    """No API key, no explicit mode, an empty netrc, and stdin closed: wandb must not prompt."""
    for var in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no.netrc"))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))


def test_offline_fallback_and_the_offline_run_holds_config_metrics_and_media(
    tmp_path, monkeypatch, capsys, no_network, no_credentials
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "media.yaml").write_text(MEDIA)
    name = ["--trainer.logger.init_args.name=digits-1", "--trainer.logger.init_args.group=ablation"]
    tags = ["--trainer.logger.init_args.tags=[convmixer, quick]", "--trainer.logger.init_args.log_model=true"]
    args = ["fit", "--config", CONVMIXER, "--config", WANDB_FRAGMENT, "--config", "media.yaml", *QUICK, *name, *tags]
    main([*args, "--model.init_args.depth=2", "--test_after_fit=false"])

    notices = [line for line in capsys.readouterr().err.splitlines() if line.startswith("lit-vision:")]
    assert any(
        "no wandb API key found, logging offline" in n and "wandb sync logs/wandb/offline-run-*" in n for n in notices
    )
    assert any("log_model set to false" in n for n in notices)

    (run_path,) = offline_runs(tmp_path / "logs")
    run = read_offline_run(run_path, wait_s=30)
    assert (run.project, run.name, run.group, run.tags, run.exit_code) == (
        "lit-vision",
        "digits-1",
        "ablation",
        ["convmixer", "quick"],
        0,
    )
    saved = yaml.safe_load((tmp_path / "logs" / "lit-vision" / run.run_id / "config.yaml").read_text())
    for key, value in saved.items():  # the full resolved CLI config, as saved next to the checkpoints
        assert run.config[key] == value, key
    assert run.config["model"]["init_args"]["depth"] == 2
    assert run.config["trainer"]["logger"]["init_args"]["log_model"] is False

    accuracies = run.metric("val/acc")
    assert len(accuracies) == 1 and 0.0 <= accuracies[0] <= 1.0
    assert run.summary["val/acc"] == accuracies[0]
    assert {"train/loss_epoch", "val/loss", "epoch", "trainer/global_step"} <= set(run.summary)
    assert run.summary["model/params"] > 0 and run.summary["model/gmacs"] > 0

    images = {
        path.name.rsplit("_", 2)[0]: matplotlib.image.imread(path) for path in run.media() if path.suffix == ".png"
    }
    assert images["confusion_matrix"].shape == (256, 256, 3)
    assert images["predictions"].shape == (2 * 64, 4 * 64, 3)


def test_resume_from_checkpoint_continues_the_same_wandb_run(tmp_path, monkeypatch, capsys, no_network):
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--config", CONVMIXER, "--config", WANDB_FRAGMENT, "--test_after_fit=false", *QUICK]
    main(args)
    (first,) = offline_runs(tmp_path / "logs")
    run_id = read_offline_run(first, wait_s=30).run_id
    checkpoint = tmp_path / "logs" / "lit-vision" / run_id / "checkpoints" / "last.ckpt"
    assert torch.load(checkpoint, map_location="cpu", weights_only=False)[CHECKPOINT_KEY] == run_id

    main([*args, "--trainer.max_epochs=2", "--ckpt_path=last"])  # the newest last.ckpt of the project's runs
    assert f"resuming wandb run {run_id} from {checkpoint.relative_to(tmp_path)}" in capsys.readouterr().err
    runs = [read_offline_run(path, wait_s=30) for path in offline_runs(tmp_path / "logs")]
    assert [run.run_id for run in runs] == [run_id, run_id]
    assert runs[1].metric("epoch")[-1] == 1  # the second session logged epoch 1 into the same run


# --- prepare_wandb_loggers without starting wandb ---------------------------------------------------------------------
def wandb_config(**init_args) -> Namespace:
    logger = Namespace(class_path="lightning.pytorch.loggers.WandbLogger", init_args=Namespace(**init_args))
    return Namespace(trainer=Namespace(logger=logger))


def test_explicit_mode_or_credentials_leave_wandb_alone(monkeypatch, capsys, tmp_path):
    config = wandb_config(log_model=True, save_dir="logs")
    prepare_wandb_loggers(config)  # WANDB_MODE=offline from the autouse fixture: explicit, so no notice
    assert "no wandb API key" not in capsys.readouterr().err
    assert config.trainer.logger.init_args.log_model is False  # but still never offline + log_model

    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    config = wandb_config(log_model=True)
    prepare_wandb_loggers(config)
    assert "WANDB_MODE" not in os.environ and config.trainer.logger.init_args.log_model is True
    assert capsys.readouterr().err == ""


def test_credentials_from_netrc(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert has_wandb_credentials()
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.example.org")
    assert not has_wandb_credentials()


def test_offline_argument_turns_log_model_off_and_other_loggers_are_untouched(capsys, no_credentials):
    config = wandb_config(offline=True, log_model="all")
    prepare_wandb_loggers(config)
    assert config.trainer.logger.init_args.log_model is False
    err = capsys.readouterr().err
    assert "log_model set to false" in err and "no wandb API key" not in err  # offline=True is an explicit choice

    csv = Namespace(
        trainer=Namespace(logger=[Namespace(class_path="lightning.pytorch.loggers.CSVLogger", init_args=Namespace())])
    )
    prepare_wandb_loggers(csv)
    assert capsys.readouterr().err == ""


def test_run_id_from_checkpoint_unless_given(tmp_path, capsys):
    checkpoint = tmp_path / "last.ckpt"
    torch.save({CHECKPOINT_KEY: "abc123", "state_dict": {}}, checkpoint)
    config = wandb_config()
    prepare_wandb_loggers(config, ckpt_path=str(checkpoint))
    assert (config.trainer.logger.init_args.id, config.trainer.logger.init_args.resume) == ("abc123", "allow")
    given = wandb_config(id="mine")
    prepare_wandb_loggers(given, ckpt_path=str(checkpoint))
    assert given.trainer.logger.init_args.id == "mine"
    plain = wandb_config(save_dir=str(tmp_path / "logs"), project="p")
    assert prepare_wandb_loggers(plain, ckpt_path="last") == "last"  # no run yet: Lightning's own "last"
    assert plain.trainer.logger.init_args.get("id") is None
    older, newer = (tmp_path / "logs" / "p" / run / "checkpoints" / "last.ckpt" for run in ("run1", "run2"))
    for path, run_id in ((older, "run1"), (newer, "run2")):
        path.parent.mkdir(parents=True)
        torch.save({CHECKPOINT_KEY: run_id}, path)
    os.utime(older, (1, 1))
    assert prepare_wandb_loggers(plain, ckpt_path="last") == str(newer)
    assert plain.trainer.logger.init_args.id == "run2"


def test_reading_a_folder_that_is_no_run_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run-\\*.wandb file"):
        read_offline_run(tmp_path)


def test_trainer_reused_after_the_cli_resumes_the_finished_wandb_run(tmp_path, monkeypatch):
    """The CLI finishes its wandb run on return; a further `cli.trainer.test(...)` (notebooks, tests) logs into the same
    run instead of failing on a finished one."""
    from lit_vision.cli import LitVisionCLI

    monkeypatch.chdir(tmp_path)
    args = ["fit", "--config", CONVMIXER, "--config", WANDB_FRAGMENT, *QUICK, "--model.init_args.depth=2"]
    cli = LitVisionCLI(args=[*args, "--trainer.limit_test_batches=2"])
    (logger,) = cli.trainer.loggers
    run_id = logger.version
    cli.trainer.test(cli.model, datamodule=cli.datamodule, ckpt_path="best", verbose=False)
    assert logger.experiment.id == run_id
    assert "test/acc" in cli.trainer.callback_metrics
