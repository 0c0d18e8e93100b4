"""SwinClassifier: Swin Transformer trained through the shared ImageClassifier logic."""

import torch

from lit_vision.models.classifier import ImageClassifier
from lit_vision.nn.swin import SwinTransformer


class SwinClassifier(ImageClassifier):
    """Swin on images of ``image_size`` (linked from the DataModule); defaults are Swin-T (patch 4, window 7).

    Any image size runs (the net pads to patches, windows and even merge sizes); ``image_size`` fixes each stage's
    window, shrunk to the stage's resolution where that is smaller than ``window_size``.
    """

    def __init__(
        self,
        patch_size: int = 4,
        embed_dim: int = 96,
        depths: tuple[int, ...] = (2, 2, 6, 2),
        num_heads: tuple[int, ...] = (3, 6, 12, 24),
        window_size: int = 7,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.2,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.net = SwinTransformer(
            img_size=self.image_size,
            patch_size=patch_size,
            in_chans=self.in_chans,
            num_classes=self.num_classes,
            embed_dim=embed_dim,
            depths=depths,
            num_heads=num_heads,
            window_size=window_size,
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            drop_rate=drop_rate,
            proj_drop_rate=proj_drop_rate,
            attn_drop_rate=attn_drop_rate,
            drop_path_rate=drop_path_rate,
        )

    def attention_maps(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Per-block, per-window attention (B, windows, heads, N, N) for visualization, without gradients."""
        with torch.no_grad():
            return self.net.get_attention_maps(images)
