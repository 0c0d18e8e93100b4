"""FCCNClassifier: fully complex-valued conv nets (Yadav & Jerripothula, ICCV 2023) through ImageClassifier.

Each batch arrives as RGB in [0, 1] (augmented by the DataModule, not normalized); `forward` turns it into the complex
iHSV color model on the batch's device and runs the complex network. Class scores and metrics use |z|; the FCCN loss
adds a phase term, and its two parts are logged as `loss_magnitude` and `loss_phase`. With `twin="real"` the same
module trains the real-valued twin of the architecture (timm ResNet, real VGG / conv net) on the RGB batch with
cross-entropy, for side-by-side runs with identical data, recipe and metrics.
"""

import math
from typing import Literal

import torch

from lit_vision.models.classifier import ImageClassifier
from lit_vision.nn.complex import ComplexConvNet, ComplexResNet, ComplexVGG, FCCNLoss, rgb_to_ihsv
from lit_vision.nn.complex.twins import RESNET_LAYERS, RealConvNet, RealVGG, real_resnet

Arch = Literal[
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "vgg11", "vgg13", "vgg16", "vgg19", "convnet"
]
ARCHS = Arch.__args__


class FCCNClassifier(ImageClassifier):
    """A complex-valued FCCN network (or its real twin) trained through ImageClassifier.

    Some arguments apply to one family only (named in brackets); the training arguments (optimizer, schedule,
    label_smoothing, ...) are ImageClassifier's.

    Args:
        arch: network: "resnet18/34/50/101/152", "vgg11/13/16/19" or "convnet" (small CDS-E-style net).
        color_channels: channels of the complex color model: 3 (iHSV) or 2 (V + iS, e^iH).
        lambda_phase: weight of the phase term of the FCCN loss.
        phase_loss: phase term: "angle" (official, pushes the true-class phase to pi) or "cosine" (smooth, towards 0).
        twin: "none" trains the complex net; "real" its real-valued twin on RGB with cross-entropy, for comparison.
        bias: learn biases in the complex convolutions (the official ImageNet models do).
        norm: complex batch norm: "naive" (split real/imaginary, official) or "whitening"; "none" [convnet only].
        act: complex activation: "prelu" (split PReLU, official), "relu" (split ReLU) or "modrelu".
        pool: max-pool of complex values: "split" (real and imaginary parts apart, official) or "magnitude" [resnet, vgg].
        drop_rate: dropout before the classifier.
        stem: "imagenet" (7x7/2 conv and max-pool) or "cifar" (3x3/1 conv) [resnet].
        width: stem and first-stage width (64 official, 32 half width) [resnet].
        share_act: one activation module shared by all activations of a block, as the official code does [resnet].
        widths: channels of each conv layer (default [32, 32, 32, 32]) [convnet].
        stride: stride of every conv, or one per layer [convnet].
        padding: padding of every conv [convnet].
        kernel_size: side of every conv kernel [convnet].
        pool_size: side of the adaptive average pool before the classifier [convnet].
        hidden: width of a hidden 1x1 conv layer before the classifier; 0 for none [convnet].
        lr_step_epochs: > 0 replaces the LR schedule by the official step decay: multiply the LR by ``lr_step_gamma``
            every ``lr_step_epochs`` epochs (after ``warmup_epochs``); 0 keeps ``lr_schedule``.
        lr_step_gamma: LR factor of each step of the step decay, in (0, 1].
    """

    def __init__(
        self,
        arch: Arch = "resnet18",
        color_channels: Literal[2, 3] = 3,
        lambda_phase: float = 1.0,
        phase_loss: Literal["angle", "cosine"] = "angle",
        twin: Literal["none", "real"] = "none",
        bias: bool = False,
        norm: Literal["naive", "whitening", "none"] = "naive",
        act: Literal["prelu", "relu", "modrelu"] = "prelu",
        pool: Literal["split", "magnitude"] = "split",
        drop_rate: float = 0.0,
        stem: Literal["imagenet", "cifar"] = "imagenet",
        width: int = 64,
        share_act: bool = True,
        widths: list[int] | None = None,
        stride: int | list[int] = 1,
        padding: int = 1,
        kernel_size: int = 3,
        pool_size: int = 1,
        hidden: int = 0,
        lr_step_epochs: float = 0.0,
        lr_step_gamma: float = 0.1,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if lr_step_epochs < 0 or not 0 < lr_step_gamma <= 1:
            raise ValueError(
                f"lr_step_epochs={lr_step_epochs} must be >= 0 (0 = off) and lr_step_gamma={lr_step_gamma} in (0, 1]"
            )
        if arch not in ARCHS:
            raise ValueError(f"FCCNClassifier arch={arch!r} is not supported; choose one of {list(ARCHS)}")
        if twin not in ("none", "real"):
            raise ValueError(f"FCCNClassifier twin={twin!r} is not supported; use 'none' (complex) or 'real'")
        if color_channels not in (2, 3):
            raise ValueError(f"FCCNClassifier color_channels={color_channels} must be 3 (iHSV) or 2 (V+iS, e^iH)")
        if self.in_chans not in (1, 3):
            raise ValueError(
                f"FCCNClassifier in_chans={self.in_chans} is not supported: the color model needs RGB (3) or grey (1)"
            )
        if norm == "none" and arch != "convnet":
            raise ValueError(f"FCCNClassifier norm='none' is only available for arch='convnet', not {arch!r}")
        if self.hparams.compile and twin != "real":
            raise ValueError(
                "FCCNClassifier compile is not supported for complex networks (torch.compile's AOTAutograd fails on "
                "complex views and inductor has no complex code generation); set compile: false, or twin: real"
            )
        self.twin = twin
        self.loss_fn = FCCNLoss(lambda_phase, phase_loss, self.hparams.label_smoothing)
        self._range_checked = False
        widths = list(widths) if widths is not None else [32, 32, 32, 32]
        in_chans = 3 if twin == "real" else color_channels
        common = {"num_classes": self.num_classes, "in_chans": in_chans, "drop_rate": drop_rate}
        if arch.startswith("resnet"):
            depth = int(arch.removeprefix("resnet"))
            if twin == "real":
                self.net = real_resnet(depth, width=width, stem=stem, **common)
            else:
                block, layers = RESNET_LAYERS[depth]
                self.net = ComplexResNet(
                    block, layers, width=width, stem=stem, bias=bias, norm=norm, act=act, pool=pool,
                    share_act=share_act, **common,
                )  # fmt: skip
        elif arch.startswith("vgg"):
            depth = int(arch.removeprefix("vgg"))
            if twin == "real":
                self.net = RealVGG(depth, **common)
            else:
                self.net = ComplexVGG(depth, bias=bias, norm=norm, act=act, pool=pool, **common)
        else:
            conv_args = {
                "widths": widths, "kernel_size": kernel_size, "stride": stride, "padding": padding,
                "pool_size": pool_size, "hidden": hidden, **common,
            }  # fmt: skip
            if twin == "real":
                self.net = RealConvNet(norm=norm != "none", **conv_args)
            else:
                self.net = ComplexConvNet(norm=norm, act=act, bias=bias, **conv_args)

    def to_complex(self, rgb: torch.Tensor) -> torch.Tensor:
        """RGB (or grey) batch in [0, 1] -> complex iHSV with `color_channels` channels, on the batch's device.
        Values are clamped to [0, 1] first (bicubic resizing and blending can overshoot slightly)."""
        if rgb.shape[1] == 1:
            rgb = rgb.expand(-1, 3, -1, -1)
        return rgb_to_ihsv(rgb.clamp(0.0, 1.0), channels=self.hparams.color_channels)

    def _check_range(self, images: torch.Tensor) -> None:
        """The color model reads RGB in [0, 1]; mean/std-normalized input is a configuration error (checked once)."""
        self._range_checked = True
        low, high = images.min().item(), images.max().item()
        if low < -0.25 or high > 1.25:
            raise ValueError(
                f"FCCNClassifier expects RGB images in [0, 1] (the iHSV color model reads them), got values in "
                f"[{low:.2f}, {high:.2f}]; turn off mean/std normalization in the DataModule (e.g. "
                "--data.init_args.normalize false)"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.twin == "real":
            return super().forward(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x)
        if not self._range_checked and not torch.compiler.is_compiling():
            self._check_range(x)
        return self.net(self.to_complex(x))

    def compute_loss(self, output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.twin == "real":
            return super().compute_loss(output, target)
        out = self.loss_fn(output, target)
        return out.loss, {"loss_magnitude": out.magnitude, "loss_phase": out.phase}

    def scores(self, output: torch.Tensor) -> torch.Tensor:
        return output.abs() if output.is_complex() else output

    def configure_optimizers(self):
        step_epochs, gamma = self.hparams.lr_step_epochs, self.hparams.lr_step_gamma
        if step_epochs <= 0:
            return super().configure_optimizers()
        optimizer = self.build_optimizer()
        total = float(self.trainer.estimated_stepping_batches)
        max_epochs = self.trainer.max_epochs if self.trainer.max_epochs and self.trainer.max_epochs > 0 else None
        if not max_epochs or not math.isfinite(total):
            raise ValueError("lr_step_epochs needs --trainer.max_epochs to convert epochs into optimizer steps")
        steps_per_epoch = total / max_epochs
        warmup = int(self.hparams.warmup_epochs * steps_per_epoch)
        period = max(1, round(step_epochs * steps_per_epoch))

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            return gamma ** ((step - warmup) // period)

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
