"""The training recipe of ImageClassifier: mixup / cutmix, label smoothing, one-cycle, EMA, compile, class names."""

import lightning
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lightning import Callback, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from timm.data.mixup import mixup_target
from timm.loss import SoftTargetCrossEntropy

from lit_vision.callbacks.ema import EMA
from lit_vision.data import DigitsDataModule
from lit_vision.models import ConvMixerClassifier
from lit_vision.models.classifier import one_cycle, strip_compile_prefix


def small_model(**kwargs) -> ConvMixerClassifier:
    defaults = dict(dim=8, depth=1, kernel_size=3, patch_size=1, num_classes=10, in_chans=1, image_size=8)
    return ConvMixerClassifier(**{**defaults, **kwargs})


def trainer(tmp_path, callbacks=(), steps: int = 4, **kwargs) -> Trainer:
    options = dict(
        max_epochs=1, limit_train_batches=steps, limit_val_batches=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path, num_sanity_val_steps=0,
        callbacks=list(callbacks), accelerator="cpu",
    )  # fmt: skip
    return Trainer(**{**options, **kwargs})


# --- mixup / cutmix ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["batch", "pair", "elem"])
def test_mixed_targets_are_distributions_and_odd_batches_keep_the_last_sample(mode):
    np.random.seed(0)
    model = small_model(mixup_alpha=0.8, cutmix_alpha=1.0, mixup_mode=mode)
    for size in (8, 7):
        images = torch.randn(size, 1, 8, 8)
        labels = torch.randint(0, 10, (size,))
        mixed, soft = model.mix((images.clone(), labels))
        assert soft.shape == (size, 10) and soft.dtype == torch.float32
        torch.testing.assert_close(soft.sum(dim=1), torch.ones(size))
        assert not torch.equal(mixed[: size // 2 * 2], images[: size // 2 * 2])
        if size % 2:
            assert torch.equal(mixed[-1], images[-1]) and soft[-1, labels[-1]] == 1


def test_cutmix_target_weights_equal_the_pasted_area():
    np.random.seed(1)
    model = small_model(cutmix_alpha=1.0)
    images = torch.arange(6, dtype=torch.float32).view(6, 1, 1, 1).expand(6, 1, 8, 8).clone()
    labels = torch.arange(6)
    mixed, soft = model.mix((images, labels))
    own = (mixed == images).float().mean(dim=(1, 2, 3))
    torch.testing.assert_close(soft[labels, labels], own)
    torch.testing.assert_close(soft[labels, labels.flip(0)], 1 - own)


def test_label_smoothing_of_mixed_targets_matches_timm():
    """Our loss (cross-entropy smoothing mixed probabilities) == timm's smoothed mixup targets + SoftTargetCE."""
    torch.manual_seed(0)
    logits, labels, lam, smoothing = torch.randn(8, 10), torch.randint(0, 10, (8,)), 0.7, 0.1
    mixed = mixup_target(labels, 10, lam=lam, smoothing=0.0)
    timm_targets = mixup_target(labels, 10, lam=lam, smoothing=smoothing)
    model = small_model(label_smoothing=smoothing)
    loss, _ = model.compute_loss(logits, mixed)
    torch.testing.assert_close(loss, SoftTargetCrossEntropy()(logits, timm_targets))
    torch.testing.assert_close(mixed.sum(1), torch.ones(8))


def test_training_with_mixup_logs_accuracy_against_the_dominant_label(tmp_path):
    seed_everything(0)
    model = small_model(mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1)
    run = trainer(tmp_path, steps=2)
    run.fit(model, datamodule=DigitsDataModule(batch_size=31))
    assert torch.isfinite(run.callback_metrics["train/loss"]) and "train/acc" in run.callback_metrics


def test_one_cycle_schedule_knots():
    values = [one_cycle(step, 100) for step in range(100)]
    assert values[0] == pytest.approx(0.025) and values[39] == pytest.approx(1.0)
    assert values[79] == pytest.approx(0.05) and values[99] == pytest.approx(0.0)
    assert max(values) == pytest.approx(1.0)


# --- EMA -------------------------------------------------------------------------------------------------------------
class RecordWeights(Callback):
    """Raw weights after every optimizer step, and the weights the validation loop sees."""

    def __init__(self) -> None:
        self.raw, self.validated = [], []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.raw.append({k: v.detach().clone() for k, v in pl_module.net.state_dict().items()})

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self.validated.append({k: v.detach().clone() for k, v in pl_module.net.state_dict().items()})


def test_ema_decay_warms_up_and_is_capped():
    ema = EMA(decay=0.999)
    assert ema.decay_at(1) == pytest.approx(1 - 2 ** (-2 / 3))
    assert ema.decay_at(100) == pytest.approx(1 - 101 ** (-2 / 3))
    assert ema.decay_at(10**6) == 0.999
    assert EMA(decay=0.9, warmup=False).decay_at(1) == 0.9
    with pytest.raises(ValueError, match="EMA decay=1.5"):
        EMA(decay=1.5)


def test_ema_weights_are_the_average_and_are_used_in_validation_and_checkpoints(tmp_path):
    seed_everything(0)
    record, ema = RecordWeights(), EMA(decay=0.6, warmup=False)
    saver = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    run = trainer(tmp_path, callbacks=[record, ema, saver], steps=5, enable_checkpointing=True)
    model = small_model(optimizer=lambda p: torch.optim.SGD(p, lr=0.5))
    run.fit(model, datamodule=DigitsDataModule(batch_size=32))
    name = "blocks.0.pointwise.weight"
    expected = record.raw[0][name]
    for step in record.raw[1:]:
        expected = 0.6 * expected + 0.4 * step[name]
    assert not torch.allclose(expected, record.raw[-1][name], atol=1e-4)  # EMA differs from the raw weights
    torch.testing.assert_close(record.validated[0][name], expected)  # validation ran on the EMA weights
    torch.testing.assert_close(model.net.state_dict()[name], expected)  # and the trained model ends on them
    # checkpoints written during fit hold the EMA weights as state_dict and the raw ones for resuming
    path = tmp_path / "last.ckpt"
    checkpoint = torch.load(path, weights_only=False)
    torch.testing.assert_close(checkpoint["state_dict"][f"net.{name}"], expected)
    torch.testing.assert_close(checkpoint["current_model_state"][f"net.{name}"], record.raw[-1][name])
    # test/predict with the checkpoint evaluate the EMA weights, with or without the callback configured
    for callbacks in ([EMA(decay=0.6)], []):
        seen = RecordWeights()
        fresh = small_model()
        trainer(tmp_path, callbacks=[*callbacks, seen]).validate(fresh, DigitsDataModule(batch_size=32), ckpt_path=path)
        torch.testing.assert_close(seen.validated[0][name], expected)


def test_ema_resume_restores_raw_weights_for_training_and_the_average(tmp_path):
    seed_everything(0)
    saver = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    run = trainer(tmp_path, callbacks=[EMA(decay=0.6, warmup=False), saver], steps=3, enable_checkpointing=True)
    run.fit(small_model(), datamodule=DigitsDataModule(batch_size=32))
    checkpoint = torch.load(tmp_path / "last.ckpt", weights_only=False)
    name = "net.stem.proj.weight"
    assert not torch.equal(checkpoint["state_dict"][name], checkpoint["current_model_state"][name])

    class Probe(Callback):
        def on_train_start(self, trainer, pl_module):
            self.raw = pl_module.state_dict()[name].clone()
            self.average = resumed_ema._average_model.module.state_dict()[name].clone()

    resumed_ema, probe = EMA(decay=0.6, warmup=False), Probe()
    resumed = trainer(tmp_path, callbacks=[resumed_ema, probe], max_epochs=2, steps=3)
    resumed.fit(small_model(), datamodule=DigitsDataModule(batch_size=32), ckpt_path=tmp_path / "last.ckpt")
    torch.testing.assert_close(probe.raw, checkpoint["current_model_state"][name])  # training goes on from raw
    torch.testing.assert_close(probe.average, checkpoint["state_dict"][name])


# --- compile and checkpoints ---------------------------------------------------------------------------------------
def test_compiled_and_plain_checkpoints_interchange(tmp_path):
    seed_everything(0)
    compiled = small_model(compile={"backend": "eager"})  # dynamo traces as for inductor, without the C++ build
    run = trainer(tmp_path, steps=1, limit_val_batches=0)
    run.fit(compiled, datamodule=DigitsDataModule(batch_size=16))
    assert compiled.net._compiled_call_impl is not None  # noqa: SLF001
    path = tmp_path / "compiled.ckpt"
    run.save_checkpoint(path)
    keys = torch.load(path, weights_only=False)["state_dict"]
    assert keys and not any("_orig_mod" in key for key in keys)
    plain = ConvMixerClassifier.load_from_checkpoint(path, compile=False)
    for key, value in compiled.state_dict().items():
        assert torch.equal(plain.state_dict()[key], value)

    # a checkpoint written from a torch.compile-wrapped net (keys with `_orig_mod.`) loads into a plain model ...
    wrapped = small_model()
    wrapped.net = torch.compile(wrapped.net, backend="eager")
    assert any("_orig_mod." in key for key in wrapped.state_dict())
    raw = {"state_dict": wrapped.state_dict(), "hyper_parameters": dict(wrapped.hparams)}
    torch.save({**raw, "pytorch-lightning_version": lightning.__version__}, tmp_path / "raw.ckpt")
    loaded = ConvMixerClassifier.load_from_checkpoint(tmp_path / "raw.ckpt")
    assert set(loaded.state_dict()) == {strip_compile_prefix(key) for key in wrapped.state_dict()}
    # ... and a plain checkpoint into a wrapped model
    checkpoint = torch.load(path, weights_only=False)
    wrapped.on_load_checkpoint(checkpoint)
    wrapped.load_state_dict(checkpoint["state_dict"])
    images = torch.randn(2, 1, 8, 8)
    plain.eval(), wrapped.eval()
    torch.testing.assert_close(wrapped(images), plain(images))


def test_class_names_travel_in_the_checkpoint(tmp_path):
    run = trainer(tmp_path, steps=1, limit_val_batches=0)
    model = small_model()
    run.fit(model, datamodule=DigitsDataModule(batch_size=16))
    run.save_checkpoint(tmp_path / "digits.ckpt")
    assert torch.load(tmp_path / "digits.ckpt", weights_only=False)["class_names"] == [str(i) for i in range(10)]
    assert ConvMixerClassifier.load_from_checkpoint(tmp_path / "digits.ckpt").class_names[9] == "9"


def test_recipe_arguments_are_checked():
    with pytest.raises(ValueError, match="mixup_alpha=-1"):
        small_model(mixup_alpha=-1)
    with pytest.raises(ValueError, match="mix_prob=2"):
        small_model(mix_prob=2)
    with pytest.raises(ValueError, match="lr_schedule='step'"):
        small_model(lr_schedule="step")
    assert F.one_hot(torch.tensor([1]), 3).sum() == 1
