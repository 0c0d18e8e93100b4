"""SwinClassifier: Swin Transformer trained through the shared ImageClassifier logic."""

import torch

from lit_vision.models.classifier import ImageClassifier
from lit_vision.nn.swin import SwinTransformer


class SwinClassifier(ImageClassifier):
    """Swin on images of ``image_size`` (linked from the DataModule); defaults are Swin-T (patch 4, window 7).

    Any image size runs (the net pads to patches, windows and even merge sizes). The training arguments
    (optimizer, schedule, mixup, ...) are ImageClassifier's.

    Args:
        patch_size: side of the square patches of the embedding conv.
        embed_dim: width of the first stage; stage i has embed_dim * 2**i channels.
        depths: blocks per stage (alternating W-MSA / SW-MSA blocks).
        num_heads: attention heads per stage; each must divide its stage's width.
        window_size: side M of the attention windows; shrunk to a stage's resolution (at ``image_size``) where smaller.
        mlp_ratio: MLP hidden width / block width.
        qkv_bias: learn a bias in the qkv projection.
        drop_rate: dropout before the classifier head.
        proj_drop_rate: dropout after the attention projection and inside the MLP.
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth of the last block, rising linearly from 0 over all blocks.
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
