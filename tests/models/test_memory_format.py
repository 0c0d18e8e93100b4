"""ConvMixer trains in channels_last by default; the memory format never reaches the checkpoint."""

import torch
from lightning import Trainer

from lit_vision.data import DigitsDataModule
from lit_vision.models import ConvMixerClassifier
from lit_vision.nn.convmixer import ConvMixer


def small_model(**kwargs) -> ConvMixerClassifier:
    defaults = dict(dim=16, depth=1, kernel_size=3, patch_size=1, num_classes=10, in_chans=1, image_size=8)
    return ConvMixerClassifier(**{**defaults, **kwargs})


def test_convmixer_defaults_to_channels_last_and_trains_in_it(tmp_path):
    torch.manual_seed(0)
    model = small_model()
    assert model.hparams.channels_last is True
    trainer = Trainer(
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    seen = []
    model.net.blocks[0].register_forward_hook(lambda module, args, out: seen.append(out))
    trainer.fit(model, datamodule=DigitsDataModule(batch_size=32))
    assert seen and all(out.is_contiguous(memory_format=torch.channels_last) for out in seen)
    assert not any(out.is_contiguous() for out in seen)
    ckpt = trainer.checkpoint_callback.best_model_path

    # a channels_last checkpoint loads into a contiguous model (and the plain network) with equal outputs
    contiguous = ConvMixerClassifier.load_from_checkpoint(ckpt, channels_last=False).eval()
    assert contiguous.hparams.channels_last is False
    assert all(p.is_contiguous() for p in contiguous.parameters())
    images = torch.rand(4, 1, 8, 8)
    model.eval()
    with torch.no_grad():
        expected = model(images)
        torch.testing.assert_close(contiguous(images), expected, atol=1e-5, rtol=1e-5)
        net = ConvMixer(dim=16, depth=1, kernel_size=3, patch_size=1, in_chans=1, num_classes=10).eval()
        state = torch.load(ckpt, weights_only=False)["state_dict"]
        net.load_state_dict({k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")})
        torch.testing.assert_close(net(images), expected, atol=1e-5, rtol=1e-5)


def test_contiguous_state_dict_loads_into_channels_last_model_and_keeps_its_format():
    torch.manual_seed(0)
    source = small_model(channels_last=False).eval()
    target = small_model().eval()
    target.net.to(memory_format=torch.channels_last)
    target.load_state_dict(source.state_dict())
    assert target.net.stem.proj.weight.is_contiguous(memory_format=torch.channels_last)
    images = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(target(images), source(images), atol=1e-5, rtol=1e-5)
