"""`compile` on and off share checkpoints: a run started eager resumes compiled and the other way round, through the
real Trainer, and goes on to the same weights and outputs (ImageClassifier and Seq2SeqTransformer); the compiled
run's checkpoint loads into an eager model.

Compiling uses dynamo with the "aot_eager" backend: the same graph capture and autograd tracing as inductor, without
its C++ build (which takes a minute per model on 2 cores); benchmarks/compile.py measures inductor itself. The
sequences have one length, so that the compiled run traces one graph.
"""

import re

import pytest
import torch
import yaml
from lightning import Trainer, seed_everything

from helpers import CONFIGS
from lit_vision.data import DigitsDataModule, SequenceDataModule
from lit_vision.models import ConvMixerClassifier, Seq2SeqTransformer

COMPILED = {"backend": "aot_eager"}


def convmixer(compile) -> ConvMixerClassifier:
    return ConvMixerClassifier(
        dim=8, depth=1, kernel_size=3, patch_size=1, num_classes=10, in_chans=1, image_size=8, compile=compile
    )


def transformer(compile) -> Seq2SeqTransformer:
    return Seq2SeqTransformer(
        src_vocab_size=14, tgt_vocab_size=14, d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
        dim_feedforward=32, dropout=0.0, max_len=32, lr_schedule="constant", warmup_steps=0, compile=compile,
        optimizer=lambda params: torch.optim.Adam(params, lr=1e-2),
    )  # fmt: skip


CASES = {
    "convmixer": (convmixer, lambda: DigitsDataModule(batch_size=16), lambda: (torch.rand(4, 1, 8, 8),)),
    "transformer": (
        transformer,
        lambda: SequenceDataModule(task="reverse", min_length=4, max_length=4, train_size=32, val_size=8, batch_size=8),
        lambda: (torch.randint(3, 14, (2, 5)), torch.randint(3, 14, (2, 4))),
    ),
}


def fit(model, data, tmp_path, steps: int, ckpt_path=None) -> Trainer:
    seed_everything(0)  # the same batches in every run
    trainer = Trainer(
        max_steps=steps, limit_val_batches=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path, accelerator="cpu",
    )  # fmt: skip
    trainer.fit(model, datamodule=data, ckpt_path=ckpt_path)
    return trainer


@pytest.mark.parametrize("name", sorted(CASES))
def test_training_resumes_across_compile_on_and_off(name, tmp_path):
    build, data, example = CASES[name]
    seed_everything(0)
    first = build(False)
    fit(first, data(), tmp_path, steps=2).save_checkpoint(tmp_path / "eager.ckpt")

    # an eager run's checkpoint resumes compiled, and goes on exactly as the eager run does
    compiled, eager = build(COMPILED), build(False)
    compiled_run = fit(compiled, data(), tmp_path, steps=4, ckpt_path=tmp_path / "eager.ckpt")
    fit(eager, data(), tmp_path, steps=4, ckpt_path=tmp_path / "eager.ckpt")
    assert compiled.net._compiled_call_impl is not None and eager.net._compiled_call_impl is None  # noqa: SLF001
    assert compiled.global_step == eager.global_step == 4
    torch.testing.assert_close(compiled.state_dict(), eager.state_dict())
    moved = next(k for k, v in first.state_dict().items() if v.is_floating_point() and v.numel() > 1)
    assert not torch.equal(eager.state_dict()[moved], first.state_dict()[moved])  # training went on

    # the compiled run's checkpoint (no `_orig_mod.` keys) loads into an eager model: equal outputs
    compiled_run.save_checkpoint(tmp_path / "compiled.ckpt")
    keys = torch.load(tmp_path / "compiled.ckpt", weights_only=False)["state_dict"]
    assert keys.keys() == eager.state_dict().keys()
    loaded = type(eager).load_from_checkpoint(tmp_path / "compiled.ckpt", compile=False)
    assert loaded.hparams.compile is False and loaded.net._compiled_call_impl is None  # noqa: SLF001
    inputs = example()
    compiled.eval(), loaded.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(*inputs), compiled(*inputs))


def test_configs_readme_lists_the_compiled_recipes():
    """configs/README.md "torch.compile" names exactly the configs that compile; the digits configs stay eager."""
    compiled = set()
    for path in sorted(CONFIGS.rglob("*.yaml")):
        model = (yaml.safe_load(path.read_text()) or {}).get("model") or {}
        if (model.get("init_args") or {}).get("compile"):
            compiled.add(str(path.relative_to(CONFIGS)))
    section = (CONFIGS / "README.md").read_text().split("## torch.compile", 1)[1]
    listed = re.search(r"- Compiled: (.*?)\n- ", section, re.S).group(1)
    assert set(re.findall(r"`([\w/]+\.yaml)`", listed)) == compiled
    assert not any("/" not in name or name.startswith(("text/", "trainer/")) for name in compiled)


def test_complex_fccn_refuses_compile_in_one_line():
    from lit_vision.models import FCCNClassifier

    with pytest.raises(ValueError, match="compile is not supported for complex networks"):
        FCCNClassifier(num_classes=10, compile=True)
    FCCNClassifier(num_classes=10, compile=True, twin="real")  # the real twin compiles
