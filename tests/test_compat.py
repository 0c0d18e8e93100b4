"""Each private attribute `lit_vision._compat` relies on still exists and does what it uses it for."""

import torch
from lightning import Callback, LightningModule, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint, WeightAveraging
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch.utils.data import DataLoader, TensorDataset

from lit_vision import _compat
from lit_vision._compat import mark_wandb_message_shown


def test_mark_wandb_message_shown_silences_that_warning(capsys, monkeypatch):
    from wandb.errors import term

    monkeypatch.setattr(term, "_silent", False)
    term.termwarn("lit-vision compat probe, unmarked", repeat=False)
    assert "lit-vision compat probe, unmarked" in capsys.readouterr().err  # wandb prints it ...
    mark_wandb_message_shown("lit-vision compat probe")
    term.termwarn("lit-vision compat probe", repeat=False)
    assert "lit-vision compat probe" not in capsys.readouterr().err  # ... unless marked as shown


# --- one test per function of lit_vision._compat, on real objects: an upgrade that moves a private thing fails here ---


class TinyModule(LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        loss = self.layer(batch[0]).pow(2).mean()
        self.log("train/loss", loss, on_step=True, on_epoch=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return DataLoader(TensorDataset(torch.randn(8, 2)), batch_size=2)


def tiny_trainer(tmp_path, callbacks=(), **kwargs) -> Trainer:
    seed_everything(0)
    options = {"logger": False, "enable_checkpointing": False, "log_every_n_steps": 1} | kwargs
    return Trainer(
        max_epochs=1,
        accelerator="cpu",
        devices=1,
        callbacks=list(callbacks),
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        **options,
    )


class Probe(Callback):
    """Records what the compat functions return during training."""

    def __init__(self) -> None:
        self.results, self.step_rows = [], []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        results = _compat.epoch_log_results(trainer)  # reset at the epoch's end: keep copies of the values
        self.results.append(
            {
                key: (r.meta.on_epoch, r.is_tensor, r.value.clone(), int(r.cumulated_batch_size))
                for key, r in results.items()
            }
        )
        self.step_rows.append(_compat.step_metrics_logged_after_batch_end(trainer))


def test_jsonargparse_debug_mode(monkeypatch):
    monkeypatch.delenv("JSONARGPARSE_DEBUG", raising=False)
    assert _compat.jsonargparse_debug_mode() is False
    monkeypatch.setenv("JSONARGPARSE_DEBUG", "true")
    assert _compat.jsonargparse_debug_mode() is True


def test_epoch_log_results_and_step_rows(tmp_path):
    probe = Probe()
    logger = CSVLogger(tmp_path, name="csv")
    trainer = tiny_trainer(tmp_path, [probe], logger=logger, log_every_n_steps=2)
    trainer.fit(TinyModule())
    results = probe.results[-1]
    (key,) = [key for key in results if "train/loss" in key]
    on_epoch, is_tensor, value, batch_sizes = results[key]
    assert on_epoch and is_tensor and torch.isfinite(value)
    assert batch_sizes == 8  # four batches of two, summed for the epoch mean
    assert probe.step_rows == [False, True, False, True]  # log_every_n_steps=2
    rows = (tmp_path / "csv" / "version_0" / "metrics.csv").read_text().splitlines()[1:]
    assert sum(1 for row in rows if row.split(",")[-1]) >= 2  # the two step rows Lightning wrote


def test_attached_trainer(tmp_path):
    module = TinyModule()
    assert _compat.attached_trainer(module) is None
    trainer = tiny_trainer(tmp_path, max_steps=1)
    trainer.fit(module)
    assert _compat.attached_trainer(module) is trainer


def test_is_local_path(tmp_path):
    assert _compat.is_local_path(tmp_path / "last.ckpt") and _compat.is_local_path("last.ckpt")
    assert not _compat.is_local_path("s3://bucket/last.ckpt")


def test_replace_default_checkpoint_io(tmp_path):
    class Custom(TorchCheckpointIO):
        pass

    default = tiny_trainer(tmp_path)
    ours = TorchCheckpointIO()
    assert _compat.replace_default_checkpoint_io(default.strategy, ours)
    assert default.strategy.checkpoint_io is ours
    custom = tiny_trainer(tmp_path, plugins=[Custom()])
    assert not _compat.replace_default_checkpoint_io(custom.strategy, TorchCheckpointIO())
    assert type(custom.strategy.checkpoint_io) is Custom


def test_model_checkpoint_internals(tmp_path):
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=0, save_last=True, save_on_exception=True)
    trainer = tiny_trainer(tmp_path, [checkpoint], enable_checkpointing=True)
    trainer.fit(TinyModule())
    assert _compat.last_saved_step(checkpoint) == trainer.global_step == 4
    assert _compat.saves_on_exception(checkpoint, trainer) is False  # already saved at this step
    (tmp_path / "ckpt" / "last.ckpt").unlink()
    _compat.save_last_checkpoint(checkpoint, trainer)
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)
    assert saved["global_step"] == 4


def test_averaged_model(tmp_path):
    averaging = WeightAveraging()
    assert _compat.averaged_model(averaging) is None
    tiny_trainer(tmp_path, [averaging]).fit(TinyModule())
    average = _compat.averaged_model(averaging)
    assert isinstance(average, torch.optim.swa_utils.AveragedModel) and int(average.n_averaged) == 4


def test_set_model_parallel_sizes():
    """The sizes reach the mesh check of ModelParallelStrategy (it raises on a shape that misses the world size)."""
    import pytest
    from lightning.fabric.strategies.model_parallel import _setup_device_mesh
    from lightning.pytorch.strategies import ModelParallelStrategy

    strategy = ModelParallelStrategy()
    _compat.set_model_parallel_sizes(strategy, 3, 1)
    assert (strategy._data_parallel_size, strategy._tensor_parallel_size) == (3, 1)
    with pytest.raises(RuntimeError, match="data_parallel_size=3"):
        _setup_device_mesh(strategy._data_parallel_size, strategy._tensor_parallel_size, 2, torch.device("cpu"))


def test_set_peak_flops(tmp_path):
    from lightning.pytorch.callbacks import ThroughputMonitor

    monitor = ThroughputMonitor(batch_size_fn=len, window_size=2)
    tiny_trainer(tmp_path, [monitor], max_steps=2).fit(TinyModule())  # setup made one Throughput per stage
    _compat.set_peak_flops(monitor, 2e12)
    throughputs = list(vars(monitor).get("_throughputs", {}).values())
    assert monitor.available_flops == 2e12 and throughputs
    assert all(throughput.available_flops == 2e12 for throughput in throughputs)


def test_logger_version(tmp_path):
    logger = CSVLogger(tmp_path, name="run")
    assert _compat.logger_version(logger) is None
    _compat.set_logger_version(logger, 3)
    assert _compat.logger_version(logger) == 3 and logger.version == 3
    assert logger.log_dir.endswith("version_3")


def test_wandb_logger_run_and_resume(tmp_path):
    from lightning.pytorch.loggers import WandbLogger

    from lit_vision.loggers import finish_wandb

    logger = WandbLogger(save_dir=str(tmp_path), offline=True, project="compat")
    assert _compat.wandb_logger_run(logger) is None
    run = logger.experiment
    assert _compat.wandb_logger_run(logger) is run
    run_id = run.id
    finish_wandb()
    _compat.resume_wandb_run_later(logger, run_id)
    assert _compat.wandb_logger_run(logger) is None and logger.version == run_id
    assert logger.experiment.id == run_id  # the next use resumes the same run
    finish_wandb()


def test_set_metric_update_count():
    from torchmetrics import MeanMetric

    metric = MeanMetric()
    metric.update(torch.tensor(1.0))
    metric.update(torch.tensor(2.0))
    assert metric.update_count == 2 and set(metric.metric_state) == {"mean_value", "weight"}
    _compat.set_metric_update_count(metric, 5)
    assert metric.update_count == 5


def test_every_compat_function_has_a_test():
    import inspect

    names = {name for name, value in vars(_compat).items() if inspect.isfunction(value) and not name.startswith("_")}
    tested = {name for name in names if f"_compat.{name}(" in inspect.getsource(inspect.getmodule(TinyModule))}
    tested |= {"mark_wandb_message_shown"}
    assert names - tested == set()


def test_no_private_framework_attribute_outside_compat():
    """A cheap scan of src/lit_vision: private imports from the four packages, private attributes of their objects."""
    import re
    from pathlib import Path

    import lit_vision

    private_import = re.compile(
        r"^\s*from (lightning|wandb|jsonargparse|torchmetrics)\S*(\._\w+ import| import \(?\s*_)", re.M
    )
    private_attribute = re.compile(r"\b(trainer|logger|strategy|metric|fit_loop|epoch_loop|wandb)\._[a-z]")
    offenders = []
    for path in sorted(Path(lit_vision.__file__).parent.rglob("*.py")):
        if path.name != "_compat.py":
            source = path.read_text()
            if private_import.search(source) or private_attribute.search(source):
                offenders.append(path.name)
    assert offenders == [], f"move these private uses into lit_vision/_compat.py: {offenders}"
