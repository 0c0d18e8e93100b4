"""ConvMixerClassifier: ConvMixer trained through the shared ImageClassifier logic."""

from lit_vision.models.classifier import ImageClassifier
from lit_vision.nn.convmixer import ConvMixer


class ConvMixerClassifier(ImageClassifier):
    def __init__(
        self,
        dim: int = 256,
        depth: int = 8,
        kernel_size: int = 5,
        patch_size: int = 2,
        act_layer: str = "gelu",
        drop_rate: float = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
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
