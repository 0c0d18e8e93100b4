"""ImageClassifier: the training logic every image architecture shares.

Subclasses take their network's hyper-parameters as flat typed arguments, pass the rest (`**kwargs`) here, and set
`self.net`. Everything else lives here: loss, metrics, optimizer parameter groups, LR schedule, logging, prediction,
and the training recipe: mixup / cutmix with soft targets (timm's `Mixup`, applied on the device in
`training_step`), label smoothing, `channels_last`, `torch.compile` of `self.net` (checkpoints never hold
`_orig_mod.` keys and load either way), and the class names of the data, kept in the checkpoint. EMA, gradient
clipping and mixed precision come from the Trainer (`lit_vision.callbacks.ema.EMA`, `gradient_clip_val`, `precision`).
"""

import math
from typing import Any, Literal

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import OptimizerCallable
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from lit_vision._compat import attached_trainer
from lit_vision.models.finetune import (
    apply_freeze,
    check_finetune_args,
    data_normalization,
    keep_frozen_in_eval,
    layer_decay_groups,
    load_pretrained_once,
)
from lit_vision.state_dict import strip_compile_prefix


def warmup_cosine(step: int, warmup_steps: int, total_steps: float, min_ratio: float) -> float:
    """LR multiplier: linear warmup from 1/(warmup+1) to 1, then cosine decay to `min_ratio` at `total_steps`."""
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    if not math.isfinite(total_steps) or total_steps <= warmup_steps:
        return 1.0
    progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def one_cycle(step: int, total_steps: float) -> float:
    """LR multiplier of ConvMixer's "onecycle" (its timm fork and CIFAR script): piecewise linear through
    0 -> 1 at 2/5 of training -> 1/20 at 4/5 -> 0 at the end."""
    if not math.isfinite(total_steps) or total_steps <= 0:
        return 1.0
    knots, values = (0.0, 0.4, 0.8, 1.0), (0.0, 1.0, 0.05, 0.0)
    t = min(1.0, (step + 1) / total_steps)
    for (t0, t1), (v0, v1) in zip(zip(knots, knots[1:]), zip(values, values[1:])):
        if t <= t1:
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return 0.0


class ImageClassifier(L.LightningModule):
    """Image classification training shared by every architecture; subclasses set ``self.net``.

    Args:
        num_classes: classifier outputs (linked from the DataModule).
        in_chans: input image channels (linked from the DataModule).
        image_size: side of the (square) training images (linked from the DataModule).
        label_smoothing: label smoothing of the cross-entropy in [0, 1), applied to hard and mixed targets alike.
        optimizer: optimizer class and its arguments, e.g. ``{class_path: torch.optim.AdamW, init_args: {lr: 1e-3}}``.
        warmup_epochs: linear LR warmup length in epochs (fractions allowed); ignored by "onecycle".
        lr_schedule: per-step LR schedule: "cosine" (warmup then cosine decay), "constant" or "onecycle" (ConvMixer's).
        min_lr_ratio: final LR of the cosine schedule as a fraction of the peak LR.
        channels_last: run the network in channels_last memory format (faster convolutions on GPU).
        mixup_alpha: Beta(alpha, alpha) of mixup; 0 turns mixup off (DeiT uses 0.8).
        cutmix_alpha: Beta(alpha, alpha) of cutmix; 0 turns cutmix off (DeiT uses 1.0).
        mix_prob: probability of mixing a batch (or pair / sample) when mixup or cutmix is on.
        switch_prob: probability of cutmix instead of mixup when both are on.
        mixup_mode: mix per "batch", per "pair" of samples or per "elem" (sample), as timm's Mixup.
        compile: true for ``torch.compile(net)``, or a dict of its keyword arguments (e.g. ``{mode: max-autotune}``).
        pretrained: weights to start from: a timm name with optional tag, ``hf-hub:org/name``, ``local-dir:/path``,
            a .safetensors / .pth / .bin file or a lit-vision .ckpt; adapted to this run's classes, channels, image
            and window size at fit start (see README "Fine-tuning"). None trains from scratch.
        layer_decay: layer-wise LR decay: the head trains at the full LR, each block below at one more factor of it,
            the patch embedding lowest (BEiT / timm); None turns it off.
        freeze: "backbone" trains the classifier head only (linear probe; the frozen part stays in eval mode, so
            its normalization statistics stay as loaded); "none" trains everything.
    """

    net: nn.Module

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        image_size: int = 224,
        label_smoothing: float = 0.0,
        optimizer: OptimizerCallable = torch.optim.AdamW,
        warmup_epochs: float = 0.0,
        lr_schedule: str = "cosine",
        min_lr_ratio: float = 0.0,
        channels_last: bool = False,
        mixup_alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
        mix_prob: float = 1.0,
        switch_prob: float = 0.5,
        mixup_mode: Literal["batch", "pair", "elem"] = "batch",
        compile: bool | dict[str, Any] = False,
        pretrained: str | None = None,
        layer_decay: float | None = None,
        freeze: Literal["none", "backbone"] = "none",
    ) -> None:
        super().__init__()
        check_finetune_args(pretrained, layer_decay, freeze)
        if num_classes < 1:
            raise ValueError(f"num_classes={num_classes} must be >= 1")
        if lr_schedule not in ("cosine", "constant", "onecycle"):
            raise ValueError(f"lr_schedule={lr_schedule!r} is not supported; use 'cosine', 'constant' or 'onecycle'")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing={label_smoothing} must lie in [0, 1)")
        if mixup_alpha < 0 or cutmix_alpha < 0:
            raise ValueError(
                f"mixup_alpha={mixup_alpha} and cutmix_alpha={cutmix_alpha} must be >= 0 (0 turns each off)"
            )
        if not (0 <= mix_prob <= 1 and 0 <= switch_prob <= 1):
            raise ValueError(f"mix_prob={mix_prob} and switch_prob={switch_prob} must lie in [0, 1]")
        if mixup_mode not in ("batch", "pair", "elem"):
            raise ValueError(f"mixup_mode={mixup_mode!r} is not supported; use 'batch', 'pair' or 'elem'")
        self.save_hyperparameters(ignore=["optimizer"])
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.image_size = image_size
        # one example for Lightning's model summary: its FLOPs column counts a real forward pass
        self.example_input_array = torch.zeros(1, in_chans, image_size, image_size)
        self.optimizer_factory = optimizer
        self.class_names: list[str] | None = None
        self.pretrained_report: str | None = None
        self.mixup = self._make_mixup()
        self.metrics = nn.ModuleDict(
            {f"{stage}_metrics": self._make_metrics(stage) for stage in ("train", "val", "test")}
        )

    def _make_metrics(self, stage: str) -> MetricCollection:
        metrics = {"acc": MulticlassAccuracy(self.num_classes, top_k=1, average="micro")}
        if self.num_classes > 5:
            metrics["acc_top5"] = MulticlassAccuracy(self.num_classes, top_k=5, average="micro")
        return MetricCollection(metrics, prefix=f"{stage}/")

    def _make_mixup(self):
        hp = self.hparams
        if hp.mixup_alpha <= 0 and hp.cutmix_alpha <= 0:
            return None
        from timm.data import Mixup

        # smoothing stays in compute_loss: cross-entropy smooths mixed probabilities exactly as timm's targets do
        return Mixup(
            mixup_alpha=hp.mixup_alpha,
            cutmix_alpha=hp.cutmix_alpha,
            prob=hp.mix_prob,
            switch_prob=hp.switch_prob,
            mode=hp.mixup_mode,
            label_smoothing=0.0,
            num_classes=self.num_classes,
        )

    # --- hooks subclasses may override -------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.hparams.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def compute_loss(self, output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss and any extra terms to log. `target` holds class indices or (mixup) class probabilities."""
        return F.cross_entropy(output, target, label_smoothing=self.hparams.label_smoothing), {}

    def scores(self, output: torch.Tensor) -> torch.Tensor:
        """Real class scores for metrics and prediction."""
        return output

    # --- steps ---------------------------------------------------------------------------------------------------
    def _step(self, batch, stage: str) -> torch.Tensor:
        images, target = batch
        output = self(images)
        loss, extra = self.compute_loss(output, target)
        if stage == "train":
            self._check_finite(loss)
        labels = target.argmax(dim=-1) if target.is_floating_point() else target
        metrics = self.metrics[f"{stage}_metrics"]
        metrics.update(self.scores(output).detach(), labels)
        on_step = stage == "train"
        self.log(
            f"{stage}/loss",
            loss,
            prog_bar=True,
            on_step=on_step,
            on_epoch=True,
            batch_size=len(images),
            sync_dist=True,  # one scalar all-reduce per step under DDP: epoch means over all ranks
        )
        for name, value in extra.items():
            self.log(f"{stage}/{name}", value, on_step=on_step, on_epoch=True, batch_size=len(images), sync_dist=True)
        self.log_dict(metrics, prog_bar=True, on_step=False, on_epoch=True)
        return loss

    def _check_finite(self, loss: torch.Tensor) -> None:
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"training loss is {loss.item()} at step {self.global_step} (epoch {self.current_epoch}); "
                "lower the learning rate, set --trainer.gradient_clip_val 1.0, or check the input data for NaN/inf"
            )

    def mix(self, batch):
        """Mixup / cutmix on the device: images mixed in place, integer labels -> class probabilities (rows sum to
        1). An odd last sample keeps its own image and a one-hot target."""
        images, target = batch
        if self.mixup is None or target.is_floating_point() or len(images) < 2:
            return batch
        even = len(images) // 2 * 2
        mixed, soft = self.mixup(images[:even], target[:even])
        if even < len(images):
            mixed = torch.cat([mixed, images[even:]])
            soft = torch.cat([soft, F.one_hot(target[even:], self.num_classes).to(soft.dtype)])
        return mixed, soft

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._step(self.mix(batch), "train")

    def validation_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "test")

    def predict_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        images = batch[0] if isinstance(batch, list | tuple) else batch
        return self.scores(self(images)).float().softmax(dim=-1)

    # --- optimization --------------------------------------------------------------------------------------------
    def param_groups(self) -> list[dict[str, Any]]:
        """Norms, biases, and the names in `net.no_weight_decay()` get no weight decay; with `layer_decay` one
        group per layer and decay kind carries its `lr_scale` (see `lit_vision.models.param_groups`)."""
        apply_freeze(self)
        exempt = set(self.net.no_weight_decay()) if hasattr(self.net, "no_weight_decay") else set()
        if self.hparams.get("layer_decay") is not None:
            return layer_decay_groups(self.net, self.hparams.layer_decay, exempt)
        decay, no_decay = [], []
        for name, param in self.net.named_parameters():
            if not param.requires_grad:
                continue
            leaf = name.rsplit(".", 1)[-1]
            if param.ndim <= 1 or name in exempt or leaf in exempt:
                no_decay.append(param)
            else:
                decay.append(param)
        return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]

    def build_optimizer(self) -> torch.optim.Optimizer:
        """The configured optimizer over `param_groups()`, each group's LR scaled by its `lr_scale`."""
        optimizer = self.optimizer_factory(self.param_groups())
        for group in optimizer.param_groups:
            group["lr"] = group["lr"] * group.get("lr_scale", 1.0)
        return optimizer

    def configure_optimizers(self):
        optimizer = self.build_optimizer()
        if self.hparams.lr_schedule == "constant" and not self.hparams.warmup_epochs:
            return optimizer
        total = float(self.trainer.estimated_stepping_batches)
        max_epochs = self.trainer.max_epochs if self.trainer.max_epochs and self.trainer.max_epochs > 0 else None
        steps_per_epoch = total / max_epochs if max_epochs and math.isfinite(total) else 0.0
        warmup = int(self.hparams.warmup_epochs * steps_per_epoch)
        if self.hparams.lr_schedule == "constant":
            total = math.inf
        min_ratio = self.hparams.min_lr_ratio
        if self.hparams.lr_schedule == "onecycle":  # warmup built in
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: one_cycle(step, total))
        else:
            scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda step: warmup_cosine(step, warmup, total, min_ratio)
            )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # --- fine-tuning -----------------------------------------------------------------------------------------------
    def load_pretrained(self) -> str | None:
        """Load the `pretrained` weights into `net` now (once; `setup` does it at fit start) and log the report."""
        return load_pretrained_once(self)

    def train(self, mode: bool = True):
        super().train(mode)
        keep_frozen_in_eval(self)
        return self

    def on_fit_start(self) -> None:
        if self.hparams.channels_last:
            self.net.to(memory_format=torch.channels_last)

    # --- compile, class names and checkpoints --------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        names = getattr(self.trainer.datamodule, "class_names", None) if attached_trainer(self) is not None else None
        if names:
            self.class_names = list(names)
        restoring = attached_trainer(self) is not None and self.trainer.ckpt_path is not None
        if not restoring:  # a checkpoint being restored brings its own weights
            self.load_pretrained()
        apply_freeze(self)
        if self.hparams.compile and not getattr(self, "_compiled", False):
            options = self.hparams.compile if isinstance(self.hparams.compile, dict) else {}
            self.net.compile(**options)  # compiles forward in place: parameter names stay as they are
            self._compiled = True

    def configure_model(self) -> None:
        """Under `lit_vision.strategies.FSDP2Strategy` (configs/trainer/fsdp.yaml), shard `net` across processes."""
        from lightning.pytorch.strategies import ModelParallelStrategy

        strategy = self.trainer.strategy if attached_trainer(self) is not None else None
        if callable(getattr(strategy, "shard", None)):
            strategy.shard(self.net)
        elif isinstance(strategy, ModelParallelStrategy):
            raise ValueError(
                f"trainer.strategy={type(strategy).__name__} leaves lit-vision models unsharded; use "
                "lit_vision.strategies.FSDP2Strategy (--config configs/trainer/fsdp.yaml)"
            )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        for key in ("state_dict", "current_model_state"):  # the latter is the raw model when EMA is on
            if key in checkpoint:
                checkpoint[key] = {strip_compile_prefix(name): value for name, value in checkpoint[key].items()}
        if self.class_names:
            checkpoint["class_names"] = list(self.class_names)
        normalization = data_normalization(self.trainer.datamodule if attached_trainer(self) is not None else None)
        if normalization is not None:  # read back by `pretrained: run.ckpt` for the next task's DataModule
            checkpoint["normalization"] = normalization

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        own = {strip_compile_prefix(name): name for name in self.state_dict()}
        for key in ("state_dict", "current_model_state"):
            if key in checkpoint:
                checkpoint[key] = {
                    own.get(strip_compile_prefix(name), strip_compile_prefix(name)): value
                    for name, value in checkpoint[key].items()
                }
        if checkpoint.get("class_names"):
            self.class_names = list(checkpoint["class_names"])
