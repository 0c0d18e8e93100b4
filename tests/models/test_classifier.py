import math

import pytest
import timm
import torch
from lightning import Trainer

from lit_vision.data import DigitsDataModule
from lit_vision.models import ConvMixerClassifier, TimmClassifier
from lit_vision.models.classifier import warmup_cosine


def small_model(**kwargs):
    defaults = dict(dim=16, depth=1, kernel_size=3, patch_size=1, num_classes=10, in_chans=1, image_size=8)
    return ConvMixerClassifier(**{**defaults, **kwargs})


def test_param_groups_exempt_norms_biases_and_named():
    model = small_model()
    model.net.no_weight_decay = lambda: {"head.weight"}
    decay, no_decay = model.param_groups()
    names = {id(p): n for n, p in model.net.named_parameters()}
    assert {names[id(p)] for p in decay["params"]} == {
        "stem.proj.weight",
        "blocks.0.depthwise.weight",
        "blocks.0.pointwise.weight",
    }
    assert no_decay["weight_decay"] == 0.0
    assert "head.weight" in {names[id(p)] for p in no_decay["params"]}


def test_warmup_cosine_schedule_shape():
    values = [warmup_cosine(step, 10, 110, 0.1) for step in range(111)]
    assert values[0] == pytest.approx(1 / 11) and values[9] == pytest.approx(10 / 11)
    assert values[10] == pytest.approx(1.0)
    assert values[60] == pytest.approx(0.1 + 0.9 * 0.5)
    assert values[110] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(values[10:], values[11:]))
    assert warmup_cosine(50, 10, math.inf, 0.0) == 1.0


def test_scheduler_steps_per_optimizer_step(tmp_path):
    model = small_model(warmup_epochs=1, optimizer=lambda p: torch.optim.AdamW(p, lr=0.01))
    trainer = Trainer(
        max_epochs=2,
        limit_train_batches=4,
        limit_val_batches=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule=DigitsDataModule(batch_size=32))
    # 8 steps, 4 of warmup: the LR after the last step sits on the cosine tail, set by step, not by epoch
    lr = trainer.optimizers[0].param_groups[0]["lr"]
    assert lr == pytest.approx(0.01 * warmup_cosine(8, 4, 8, 0.0), abs=1e-9)


def test_soft_targets_accepted_and_predict_returns_probabilities():
    model = small_model()
    images = torch.randn(4, 1, 8, 8)
    soft = torch.softmax(torch.randn(4, 10), dim=-1)
    loss, _ = model.compute_loss(model(images), soft)
    assert loss.ndim == 0 and torch.isfinite(loss)
    probs = model.predict_step((images, torch.zeros(4, dtype=torch.long)), 0)
    torch.testing.assert_close(probs.sum(-1), torch.ones(4))


def test_nan_loss_stops_with_step_and_hint():
    model = small_model()
    with pytest.raises(FloatingPointError, match=r"training loss is nan at step 0.*gradient_clip_val"):
        model._check_finite(torch.tensor(float("nan")))


def test_checkpoint_rebuilds_itself(tmp_path):
    model = small_model(dim=24, depth=2)
    trainer = Trainer(
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[],
    )
    trainer.fit(model, datamodule=DigitsDataModule(batch_size=16))
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    loaded = ConvMixerClassifier.load_from_checkpoint(path)
    assert loaded.net.num_features == 24 and len(loaded.net.blocks) == 2
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_timm_classifier_loads_local_pretrained_file(tmp_path):
    """An ImageNet-shaped file (1000 classes) fine-tuned on 4 classes: backbone copied, new head (timm's rule)."""
    source = timm.create_model("resnet18", pretrained=False)
    weights = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), weights)
    loaded = TimmClassifier("resnet18", pretrained_file=str(weights), num_classes=4, in_chans=3, image_size=32)
    for key, value in source.state_dict().items():
        if not key.startswith("fc."):
            assert torch.equal(loaded.net.state_dict()[key], value), key
    assert loaded.net.fc.out_features == 4


def test_timm_classifier_passes_model_kwargs_and_rejects_unknown_names():
    model = TimmClassifier(
        "timm.models.convmixer.ConvMixer",
        dim=8,
        depth=1,
        kernel_size=3,
        patch_size=1,
        num_classes=10,
        in_chans=1,
        image_size=8,
        label_smoothing=0.1,
    )
    assert model.net.num_features == 8 and model.hparams.label_smoothing == 0.1
    with pytest.raises(ValueError, match="is not a timm model"):
        TimmClassifier("convmixer_9000", num_classes=10)
