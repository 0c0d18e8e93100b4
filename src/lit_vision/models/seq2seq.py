"""Seq2SeqTransformer: the encoder–decoder Transformer trained on token sequences (``SequenceDataModule`` batches).

Teacher-forced label-smoothed cross-entropy (padding ignored) and token accuracy on every split; on val/test the model
also decodes (greedy or beam search with the KV cache) and scores exact match, corpus BLEU over token ids and
SacreBLEU (0-100, tokenize 13a) on the text the DataModule decodes (detokenized BPE: comparable with published numbers).
``lit-vision predict`` decodes the DataModule's predict split to text, prints it and writes ``predictions.tsv`` and
``hypotheses.txt`` (one detokenized hypothesis per source line) into the run directory.
"""

from __future__ import annotations

import math
import os
from typing import Any, Literal

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy
from torchmetrics.text import BLEUScore

from lit_vision._compat import attached_trainer
from lit_vision.models.classifier import warmup_cosine
from lit_vision.models.text_metrics import SacreBLEU
from lit_vision.nn.decoding import beam_search, greedy_decode
from lit_vision.nn.transformer import Seq2SeqTransformer as Seq2SeqNet
from lit_vision.state_dict import strip_compile_prefix

Decoding = Literal["greedy", "beam"]


def inverse_sqrt(step: int, d_model: int, warmup_steps: int) -> float:
    """The paper's rate d_model^-0.5 · min(step^-0.5, step · warmup^-1.5), counting steps from 1."""
    step = max(step, 1)
    return d_model**-0.5 * min(step**-0.5, step * max(warmup_steps, 1) ** -1.5)


def paper_adam(params) -> torch.optim.Optimizer:
    """The paper's Adam (β2 0.98, ε 1e-9); lr 1 so that the inverse_sqrt schedule sets the rate by itself."""
    return torch.optim.Adam(params, lr=1.0, betas=(0.9, 0.98), eps=1e-9)


def strip_special(ids: list[int], pad_id: int, bos_id: int, eos_id: int) -> list[int]:
    """Ids up to the first eos, without padding and bos."""
    out = []
    for i in ids:
        if i == eos_id:
            break
        if i not in (pad_id, bos_id):
            out.append(i)
    return out


class Seq2SeqTransformer(L.LightningModule):
    """Encoder–decoder Transformer on token sequences: flat arguments of ``lit_vision.nn.Seq2SeqTransformer`` plus
    the training recipe.

    Args:
        src_vocab_size: source vocabulary size (linked from the DataModule).
        tgt_vocab_size: target vocabulary size (linked from the DataModule).
        pad_id: padding token id, masked in attention and ignored by the loss (linked from the DataModule).
        bos_id: begin-of-sequence token id that starts every decoder input (linked from the DataModule).
        eos_id: end-of-sequence token id that ends decoding (linked from the DataModule).
        d_model: model width.
        nhead: attention heads; must divide ``d_model``.
        num_encoder_layers: encoder layers.
        num_decoder_layers: decoder layers.
        dim_feedforward: hidden width of the feed-forward blocks.
        dropout: dropout on embeddings, attention weights, sublayer outputs and in the feed-forward blocks.
        activation: feed-forward activation: "relu" (paper) or "gelu".
        norm_first: pre-norm layers (LayerNorm before each sublayer); False is the paper's post-norm.
        positional: position encoding: "sinusoidal" (paper) or "learned".
        max_len: longest sequence the position encoding covers.
        share_embeddings: one embedding table for source and target (needs equal vocabularies).
        tie_output: use the target embedding matrix as the output projection (paper).
        optimizer: optimizer class and arguments; the default is the paper's Adam (betas 0.9/0.98, eps 1e-9, lr 1).
        lr_schedule: "inverse_sqrt" multiplies lr by d_model^-0.5 · min(step^-0.5, step · warmup_steps^-1.5) (paper
            with lr 1), "cosine" warms up for ``warmup_steps`` then decays to ``min_lr_ratio`` · lr, "constant" keeps lr.
        warmup_steps: warmup length in optimizer steps (4000 in the paper).
        min_lr_ratio: final LR of the cosine schedule as a fraction of lr.
        label_smoothing: label smoothing of the cross-entropy in [0, 1) (0.1 in the paper).
        val_decoding: decoding for validation exact match and BLEU: "greedy" or "beam".
        test_decoding: decoding for test exact match and BLEU: "greedy" or "beam".
        beam_size: hypotheses kept by beam search (4 in the paper).
        length_penalty: alpha of the GNMT length penalty ((5 + length) / 6) ** alpha in beam search (0.6 in the paper).
        max_decode_len: most tokens to generate; None for 2 · source length + 10, capped at ``max_len``.
        max_decode_offset: when set (and max_decode_len is None), generate at most source length + this many tokens,
            capped at ``max_len`` (the paper's input length + 50).
        compile: true for ``torch.compile`` of the network's teacher-forced forward (training and the loss on
            val/test; decoding stays eager), or a dict of its keyword arguments (e.g. ``{dynamic: true}``).
    """

    def __init__(
        self,
        src_vocab_size: int = 32,
        tgt_vocab_size: int = 32,
        pad_id: int = 0,
        bos_id: int = 1,
        eos_id: int = 2,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: Literal["relu", "gelu"] = "relu",
        norm_first: bool = False,
        positional: Literal["sinusoidal", "learned"] = "sinusoidal",
        max_len: int = 1024,
        share_embeddings: bool = False,
        tie_output: bool = True,
        optimizer: OptimizerCallable = paper_adam,
        lr_schedule: Literal["inverse_sqrt", "cosine", "constant"] = "inverse_sqrt",
        warmup_steps: int = 4000,
        min_lr_ratio: float = 0.0,
        label_smoothing: float = 0.1,
        val_decoding: Decoding = "greedy",
        test_decoding: Decoding = "beam",
        beam_size: int = 4,
        length_penalty: float = 0.6,
        max_decode_len: int | None = None,
        max_decode_offset: int | None = None,
        compile: bool | dict[str, Any] = False,
    ) -> None:
        super().__init__()
        if lr_schedule not in ("inverse_sqrt", "cosine", "constant"):
            raise ValueError(
                f"lr_schedule={lr_schedule!r} is not supported; use 'inverse_sqrt', 'cosine' or 'constant'"
            )
        for name, value in (("val_decoding", val_decoding), ("test_decoding", test_decoding)):
            if value not in ("greedy", "beam"):
                raise ValueError(f"{name}={value!r} is not supported; use 'greedy' or 'beam'")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing={label_smoothing} must lie in [0, 1)")
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps={warmup_steps} must be >= 0")
        if beam_size < 1:
            raise ValueError(f"beam_size={beam_size} must be >= 1")
        if max_decode_len is not None and not 1 <= max_decode_len <= max_len:
            raise ValueError(f"max_decode_len={max_decode_len} must lie in [1, max_len={max_len}]")
        if max_decode_offset is not None and max_decode_offset < 0:
            raise ValueError(f"max_decode_offset={max_decode_offset} must be >= 0 (tokens beyond the source length)")
        self.save_hyperparameters(ignore=["optimizer"])
        self.optimizer_factory = optimizer
        self.net = Seq2SeqNet(
            src_vocab_size,
            tgt_vocab_size,
            d_model=d_model,
            nhead=nhead,
            num_encoder_layers=num_encoder_layers,
            num_decoder_layers=num_decoder_layers,
            dim_feedforward=dim_feedforward,
            dropout=dropout,
            activation=activation,
            norm_first=norm_first,
            positional=positional,
            max_len=max_len,
            share_embeddings=share_embeddings,
            tie_output=tie_output,
            pad_id=pad_id,
            bos_id=bos_id,
            eos_id=eos_id,
        )
        self.metrics = nn.ModuleDict(
            {f"{stage}_metrics": self._make_metrics(stage) for stage in ("train", "val", "test")}
        )
        self._predictions: list[tuple[str, str, str]] = []

    def _make_metrics(self, stage: str) -> nn.ModuleDict:
        metrics = {
            "token_acc": MulticlassAccuracy(
                self.hparams.tgt_vocab_size, average="micro", ignore_index=self.hparams.pad_id
            )
        }
        if stage != "train":
            metrics |= {"exact_match": MeanMetric(), "bleu": BLEUScore(n_gram=4), "sacrebleu": SacreBLEU()}
        return nn.ModuleDict(metrics)

    # --- model -----------------------------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        if self.hparams.get("compile") and not getattr(self, "_compiled", False):
            options = self.hparams.compile if isinstance(self.hparams.compile, dict) else {}
            self.net.compile(**options)  # compiles forward in place: parameter names stay as they are
            self._compiled = True

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "state_dict" in checkpoint:  # a net wrapped by torch.compile elsewhere: keys without `_orig_mod.`
            checkpoint["state_dict"] = {strip_compile_prefix(k): v for k, v in checkpoint["state_dict"].items()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        own = {strip_compile_prefix(name): name for name in self.state_dict()}
        if "state_dict" in checkpoint:
            checkpoint["state_dict"] = {
                own.get(strip_compile_prefix(k), strip_compile_prefix(k)): v
                for k, v in checkpoint["state_dict"].items()
            }

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        """Next-token logits (B, T, V) for source ids (B, S) and decoder input ids (B, T) starting with bos."""
        return self.net(src, tgt_in)

    def compute_loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Label-smoothed cross-entropy averaged over the non-padding target tokens."""
        return F.cross_entropy(
            logits.flatten(0, 1).float(),
            labels.flatten(),
            ignore_index=self.hparams.pad_id,
            label_smoothing=self.hparams.label_smoothing,
        )

    def generate(self, src: Tensor, decoding: Decoding = "greedy") -> Tensor:
        """Generated ids (B, T): eos-terminated, padded; the best beam for ``decoding='beam'``."""
        hp = self.hparams
        max_len = hp.max_decode_len
        if max_len is None and hp.get("max_decode_offset") is not None:
            max_len = min(src.shape[1] + hp.max_decode_offset, hp.max_len)
        if decoding == "beam":
            return beam_search(self.net, src, hp.beam_size, hp.length_penalty, max_len).tokens[:, 0]
        return greedy_decode(self.net, src, max_len).tokens

    def _strip(self, ids: Tensor) -> list[list[int]]:
        hp = self.hparams
        return [strip_special(row, hp.pad_id, hp.bos_id, hp.eos_id) for row in ids.tolist()]

    # --- steps -----------------------------------------------------------------------------------------------------
    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        src, tgt = batch["src"], batch["tgt"]
        tgt_in, labels = tgt[:, :-1], tgt[:, 1:]
        logits = self(src, tgt_in)
        loss = self.compute_loss(logits, labels)
        if stage == "train" and not torch.isfinite(loss):
            raise FloatingPointError(
                f"training loss is {loss.item()} at step {self.global_step}; lower the learning rate, "
                "set --trainer.gradient_clip_val 1.0, or check the data"
            )
        metrics = self.metrics[f"{stage}_metrics"]
        metrics["token_acc"].update(logits.detach().flatten(0, 1), labels.flatten())
        on_step = stage == "train"
        self.log(
            f"{stage}/loss",
            loss,
            prog_bar=True,
            on_step=on_step,
            on_epoch=True,
            batch_size=len(src),
            sync_dist=True,  # one scalar all-reduce per step under DDP: epoch means over all ranks
        )
        self.log(f"{stage}/token_acc", metrics["token_acc"], prog_bar=stage != "train", on_step=False, on_epoch=True)
        if stage == "train":  # real (non-padding) tokens of this batch on each side
            tokens = {
                "src_tokens": (src != self.hparams.pad_id).sum(),
                "tgt_tokens": (labels != self.hparams.pad_id).sum(),
            }
            self.log_dict({f"train/{k}": v.float() for k, v in tokens.items()}, on_step=True, on_epoch=False)
            return loss
        decoding = self.hparams.val_decoding if stage == "val" else self.hparams.test_decoding
        predicted, expected = self._strip(self.generate(src, decoding)), self._strip(labels)
        exact = torch.tensor([p == e for p, e in zip(predicted, expected)], dtype=torch.float32, device=self.device)
        metrics["exact_match"].update(exact)
        metrics["bleu"].update([" ".join(map(str, p)) for p in predicted], [[" ".join(map(str, e))] for e in expected])
        self.log(f"{stage}/exact_match", metrics["exact_match"], prog_bar=True, on_step=False, on_epoch=True)
        self.log(f"{stage}/bleu", metrics["bleu"], on_step=False, on_epoch=True)
        # SacreBLEU (0-100) on detokenized text, as published: hypotheses and references decoded by the DataModule
        metrics["sacrebleu"].update(
            [self._to_text(p, "tgt") for p in predicted], [self._to_text(e, "tgt") for e in expected]
        )
        self.log(f"{stage}/sacrebleu", metrics["sacrebleu"], prog_bar=True, on_step=False, on_epoch=True)
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    # --- prediction ------------------------------------------------------------------------------------------------
    def _to_text(self, ids: list[int], side: str) -> str:
        datamodule = getattr(self.trainer, "datamodule", None) if attached_trainer(self) is not None else None
        if datamodule is not None and hasattr(datamodule, "decode"):
            return datamodule.decode(ids, side)
        return " ".join(map(str, ids))

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int, dataloader_idx: int = 0) -> list[dict[str, str]]:
        """Decoded text of each source (``test_decoding``), with the reference target when the batch has one."""
        src = batch["src"]
        predicted = self._strip(self.generate(src, self.hparams.test_decoding))
        sources = self._strip(src)
        targets = self._strip(batch["tgt"][:, 1:]) if "tgt" in batch else [None] * len(src)
        rows = []
        for source, prediction, target in zip(sources, predicted, targets):
            row = {"source": self._to_text(source, "src"), "prediction": self._to_text(prediction, "tgt")}
            if target is not None:
                row["target"] = self._to_text(target, "tgt")
            rows.append(row)
        self._predictions.extend((r["source"], r["prediction"], r.get("target", "")) for r in rows)
        return rows

    def on_predict_epoch_start(self) -> None:
        self._predictions = []

    def on_predict_epoch_end(self) -> None:
        from lit_vision.callbacks.save_config import run_dir

        directory = run_dir(self.trainer)
        os.makedirs(directory, exist_ok=True)
        rank = f".rank{self.global_rank}" if self.trainer.world_size > 1 else ""
        path = os.path.join(directory, f"predictions{rank}.tsv")
        with open(path, "w", encoding="utf-8") as file:
            file.write("source\tprediction\ttarget\n")
            file.writelines("\t".join(row) + "\n" for row in self._predictions)
        hypotheses = os.path.join(directory, f"hypotheses{rank}.txt")  # one line per source, for `sacrebleu REF < HYP`
        with open(hypotheses, "w", encoding="utf-8") as file:
            file.writelines(prediction + "\n" for _, prediction, _ in self._predictions)
        shown = self._predictions[:10]
        lines = [f"{source}\t{prediction}" for source, prediction, _ in shown]
        more = len(self._predictions) - len(shown)
        print("\n".join(["source\tprediction", *lines, *([f"... {more} more"] if more > 0 else [])]))
        print(f"wrote {len(self._predictions)} predictions to {path}")
        print(f"wrote the detokenized hypotheses to {hypotheses}")

    # --- optimization --------------------------------------------------------------------------------------------
    def param_groups(self) -> list[dict[str, Any]]:
        """No weight decay for norms, biases, token embeddings (and the tied output) and ``net.no_weight_decay()``."""
        exempt = set(self.net.no_weight_decay())
        embeddings = {id(m.weight) for m in self.net.modules() if isinstance(m, nn.Embedding)}
        decay, no_decay = [], []
        for name, param in self.net.named_parameters():
            if not param.requires_grad:
                continue
            if param.ndim <= 1 or name in exempt or id(param) in embeddings:
                no_decay.append(param)
            else:
                decay.append(param)
        return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]

    def lr_factor(self, step: int, total_steps: float) -> float:
        """LR multiplier after ``step`` optimizer steps."""
        hp = self.hparams
        if hp.lr_schedule == "inverse_sqrt":
            return inverse_sqrt(step + 1, hp.d_model, hp.warmup_steps)
        if hp.lr_schedule == "cosine":
            return warmup_cosine(step, hp.warmup_steps, total_steps, hp.min_lr_ratio)
        return warmup_cosine(step, hp.warmup_steps, math.inf, 1.0)

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.param_groups())
        if self.hparams.lr_schedule == "constant" and not self.hparams.warmup_steps:
            return optimizer
        total = float(self.trainer.estimated_stepping_batches)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: self.lr_factor(step, total))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
