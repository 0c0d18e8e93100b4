import csv
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from lightning import Trainer, seed_everything

from helpers import CONFIGS
from lit_vision.data import SequenceDataModule
from lit_vision.models import Seq2SeqTransformer
from lit_vision.models.seq2seq import inverse_sqrt, strip_special


def tiny_model(**kwargs) -> Seq2SeqTransformer:
    seed_everything(0)
    args = dict(
        src_vocab_size=14,
        tgt_vocab_size=14,
        d_model=16,
        nhead=2,
        num_encoder_layers=1,
        num_decoder_layers=1,
        dim_feedforward=32,
        dropout=0.0,
        max_len=32,
    )
    return Seq2SeqTransformer(**{**args, **kwargs})


def tiny_data(**kwargs) -> SequenceDataModule:
    args = dict(task="reverse", min_length=2, max_length=5, train_size=64, val_size=16, test_size=16, batch_size=8)
    return SequenceDataModule(**{**args, **kwargs})


def quiet_trainer(tmp_path, **kwargs) -> Trainer:
    args = dict(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    return Trainer(**{**args, **kwargs})


def test_loss_ignores_padding_and_smooths_labels():
    model = tiny_model(label_smoothing=0.1)
    logits = torch.randn(2, 4, 14)
    labels = torch.tensor([[5, 6, 2, 0], [7, 2, 0, 0]])
    loss = model.compute_loss(logits, labels)
    changed = logits.clone()
    changed[labels == 0] = torch.randn(3, 14) * 10  # logits at padded positions do not matter
    torch.testing.assert_close(model.compute_loss(changed, labels), loss)
    keep = labels != 0
    expected = F.cross_entropy(logits[keep], labels[keep], label_smoothing=0.1)  # mean over the 5 real tokens
    torch.testing.assert_close(loss, expected)
    # padding a batch wider changes nothing either
    wider = torch.cat([logits, torch.randn(2, 3, 14)], dim=1)
    torch.testing.assert_close(model.compute_loss(wider, F.pad(labels, (0, 3))), loss)


def test_inverse_sqrt_schedule_values():
    d, warmup = 512, 4000
    assert inverse_sqrt(1, d, warmup) == pytest.approx(d**-0.5 * warmup**-1.5)
    assert inverse_sqrt(warmup, d, warmup) == pytest.approx(d**-0.5 * warmup**-0.5)  # the peak, 6.99e-4
    assert inverse_sqrt(warmup, d, warmup) == pytest.approx(6.988e-4, rel=1e-3)
    assert inverse_sqrt(4 * warmup, d, warmup) == pytest.approx(0.5 * inverse_sqrt(warmup, d, warmup))
    values = [inverse_sqrt(s, d, warmup) for s in range(1, 3 * warmup)]
    assert max(values) == values[warmup - 1]


def test_scheduler_applies_inverse_sqrt_per_step(tmp_path):
    model = tiny_model(warmup_steps=3, optimizer=lambda p: torch.optim.Adam(p, lr=2.0))
    trainer = quiet_trainer(tmp_path, max_steps=5, limit_val_batches=0)
    trainer.fit(model, datamodule=tiny_data())
    # after 5 optimizer steps the scheduler has stepped 5 times: lr = 2 * rate(step 6)
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(2.0 * inverse_sqrt(6, 16, 3))


def test_param_groups_exempt_norms_biases_and_embeddings():
    model = tiny_model(positional="learned")
    decay, no_decay = model.param_groups()
    names = {id(p): n for n, p in model.net.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    exempt = {names[id(p)] for p in no_decay["params"]}
    assert no_decay["weight_decay"] == 0.0
    assert {"src_embed.weight", "tgt_embed.weight", "pos_embed.weight"} <= exempt  # head.weight is tied to tgt_embed
    assert all(name.endswith(".weight") and "norm" not in name for name in decayed)
    assert "transformer.encoder.layers.0.self_attn.qkv.weight" in decayed
    assert len(decayed) + len(exempt) == len(list(model.net.parameters()))


def test_exact_match_and_bleu_from_decoded_sequences(monkeypatch):
    model = tiny_model()
    src = torch.tensor([[5, 6, 7, 8, 9], [8, 9, 10, 11, 0]])
    tgt = torch.tensor([[1, 9, 8, 7, 6, 5, 2], [1, 11, 10, 9, 8, 2, 0]])
    # the first sequence decoded right, the second with one wrong token
    wrong = torch.tensor([[9, 8, 7, 6, 5, 2], [11, 10, 9, 9, 2, 0]])
    monkeypatch.setattr(model, "generate", lambda s, decoding: wrong)
    model._step({"src": src, "tgt": tgt}, "val")
    metrics = model.metrics["val_metrics"]
    assert metrics["exact_match"].compute() == pytest.approx(0.5)
    assert 0.0 < metrics["bleu"].compute() < 1.0
    metrics["exact_match"].reset(), metrics["bleu"].reset()
    monkeypatch.setattr(model, "generate", lambda s, decoding: tgt[:, 1:])
    model._step({"src": src, "tgt": tgt}, "val")
    assert metrics["exact_match"].compute() == 1.0 and metrics["bleu"].compute() == pytest.approx(1.0)
    assert strip_special([1, 7, 6, 2, 9, 0], pad_id=0, bos_id=1, eos_id=2) == [7, 6]


def test_fit_validates_with_greedy_and_tests_with_beam(tmp_path, monkeypatch):
    model = tiny_model(beam_size=2)
    used = []
    generate = model.generate
    monkeypatch.setattr(model, "generate", lambda src, decoding: used.append(decoding) or generate(src, decoding))
    trainer = quiet_trainer(tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=1, num_sanity_val_steps=0)
    data = tiny_data()
    trainer.fit(model, datamodule=data)
    assert "val/exact_match" in trainer.callback_metrics and "val/bleu" in trainer.callback_metrics
    assert 0.0 <= trainer.callback_metrics["val/sacrebleu"] <= 100.0
    assert set(used) == {"greedy"}
    trainer.test(model, datamodule=data, verbose=False)
    assert used[-1] == "beam" and "test/token_acc" in trainer.callback_metrics


def test_checkpoint_reload_gives_the_same_model(tmp_path):
    model = tiny_model(share_embeddings=True, positional="learned")
    trainer = quiet_trainer(tmp_path, max_steps=3, limit_val_batches=0)
    trainer.fit(model, datamodule=tiny_data())
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    reloaded = Seq2SeqTransformer.load_from_checkpoint(path)
    assert reloaded.hparams.d_model == 16 and reloaded.net.src_embed is reloaded.net.tgt_embed
    src, tgt = torch.tensor([[5, 6, 7, 0]]), torch.tensor([[1, 7, 6]])
    model.eval()
    torch.testing.assert_close(reloaded(src, tgt), model(src, tgt))
    torch.testing.assert_close(reloaded.generate(src, "beam"), model.generate(src, "beam"))


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(ValueError, match="lr_schedule='linear' is not supported"):
        tiny_model(lr_schedule="linear")
    with pytest.raises(ValueError, match="test_decoding='sample' is not supported"):
        tiny_model(test_decoding="sample")
    with pytest.raises(ValueError, match="max_decode_len=64 must lie in"):
        tiny_model(max_decode_len=64)


def test_cli_predict_writes_decoded_text(fit_config, tmp_path, capsys):
    from lit_vision.cli import LitVisionCLI

    model_args = ["--model.init_args.d_model", "16", "--model.init_args.dim_feedforward", "32"]
    data_args = ["--data.init_args.train_size", "64", "--data.init_args.test_size", "12"]
    trainer_args = ["--trainer.max_steps", "3", "--trainer.limit_val_batches", "1", "--trainer.val_check_interval", "3"]
    cli = fit_config("transformer.yaml", *model_args, *data_args, *trainer_args, "--test_after_fit", "false")
    assert cli.model.hparams.src_vocab_size == 14 and cli.model.hparams.eos_id == 2  # linked from the data
    checkpoint = cli.trainer.checkpoint_callback.last_model_path
    capsys.readouterr()
    args = [
        "predict",
        "--config",
        str(CONFIGS / "transformer.yaml"),
        *model_args,
        *data_args,
        "--ckpt_path",
        checkpoint,
    ]
    LitVisionCLI(args=args)
    out = capsys.readouterr().out
    written = [line for line in out.splitlines() if line.startswith("wrote 12 predictions to ")]
    assert written, out[-2000:]
    with open(written[0].removeprefix("wrote 12 predictions to ")) as file:
        rows = list(csv.DictReader(file, delimiter="\t"))
    assert len(rows) == 12 and all(row["target"] == row["source"][::-1] for row in rows)
    assert all(set(row["prediction"]) <= set("0123456789") for row in rows)  # digits as text, no special tokens
    hypotheses = Path(written[0].removeprefix("wrote 12 predictions to ")).with_name("hypotheses.txt")
    assert hypotheses.read_text().splitlines() == [row["prediction"] for row in rows]  # for `sacrebleu REF < HYP`


def test_max_decode_offset_limits_output_to_input_length_plus_offset():
    model = tiny_model(max_decode_offset=2).eval()
    model.net.head.weight.data.zero_()  # never predicts eos first: decoding runs to its limit
    model.net.head.weight.data[5] = 1.0
    for decoding in ("greedy", "beam"):
        assert model.generate(torch.tensor([[5, 6, 7, 8, 9]]), decoding).shape[1] == 5 + 2
    with pytest.raises(ValueError, match="max_decode_offset=-1 must be >= 0"):
        tiny_model(max_decode_offset=-1)
