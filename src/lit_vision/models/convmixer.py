"""ConvMixerClassifier: ConvMixer trained through the shared ImageClassifier logic."""

from lit_vision.models.classifier import ImageClassifier
from lit_vision.nn.convmixer import ConvMixer


class ConvMixerClassifier(ImageClassifier):
    """ConvMixer on images of ``image_size`` (linked from the DataModule); defaults are ConvMixer-256/8 for CIFAR.

    The training arguments (optimizer, schedule, mixup, ...) are ImageClassifier's.

    Args:
        dim: channels of every layer after the patch embedding.
        depth: number of ConvMixer blocks (depthwise then pointwise convolution).
        kernel_size: side of the depthwise convolution kernels.
        patch_size: side (and stride) of the patch-embedding convolution; must divide ``image_size``.
        act_layer: activation after every convolution: "gelu", "relu", "silu" or "tanh".
        drop_rate: dropout before the classifier head.
        channels_last: run in channels_last (NHWC) memory format; on by default: depthwise convolutions are many times
            faster in it on CPU (benchmarks/memory_format.py); checkpoints load in either format.
    """

    def __init__(
        self,
        dim: int = 256,
        depth: int = 8,
        kernel_size: int = 5,
        patch_size: int = 2,
        act_layer: str = "gelu",
        drop_rate: float = 0.0,
        channels_last: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(channels_last=channels_last, **kwargs)
        if self.image_size % patch_size:
            raise ValueError(
                f"image_size={self.image_size} is not divisible by patch_size={patch_size}; "
                f"set --model.init_args.patch_size to a divisor of {self.image_size} or resize the data"
            )
        self.net = ConvMixer(
            dim=dim,
            depth=depth,
            kernel_size=kernel_size,
            patch_size=patch_size,
            in_chans=self.in_chans,
            num_classes=self.num_classes,
            act_layer=act_layer,
            drop_rate=drop_rate,
        )
