"""ViTClassifier: Vision Transformer trained through the shared ImageClassifier logic."""

from typing import Literal

from lit_vision.models.classifier import ImageClassifier
from lit_vision.nn.vit import VisionTransformer


class ViTClassifier(ImageClassifier):
    """ViT on images of ``image_size`` (linked from the DataModule); defaults are ViT-S/16 (DeiT-S).

    The training arguments (optimizer, schedule, mixup, ...) are ImageClassifier's.

    Args:
        patch_size: side of the square patches; must divide ``image_size``.
        embed_dim: token width.
        depth: number of Transformer blocks.
        num_heads: attention heads per block; must divide ``embed_dim``.
        mlp_ratio: MLP hidden width / token width.
        qkv_bias: learn a bias in the qkv projection.
        global_pool: "token" classifies the class token, "avg" the mean of the patch tokens.
        class_token: prepend a learned class token (needed by ``global_pool="token"``).
        init_values: LayerScale initial value; None turns LayerScale off.
        drop_rate: dropout before the classifier head.
        pos_drop_rate: dropout after adding the position embeddings.
        proj_drop_rate: dropout after the attention projection and inside the MLP.
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth of the last block, rising linearly from 0 over the blocks.
    """

    def __init__(
        self,
        patch_size: int = 16,
        embed_dim: int = 384,
        depth: int = 12,
        num_heads: int = 6,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        global_pool: Literal["token", "avg"] = "token",
        class_token: bool = True,
        init_values: float | None = None,
        drop_rate: float = 0.0,
        pos_drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.net = VisionTransformer(
            img_size=self.image_size,
            patch_size=patch_size,
            in_chans=self.in_chans,
            num_classes=self.num_classes,
            global_pool=global_pool,
            class_token=class_token,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            init_values=init_values,
            drop_rate=drop_rate,
            pos_drop_rate=pos_drop_rate,
            proj_drop_rate=proj_drop_rate,
            attn_drop_rate=attn_drop_rate,
            drop_path_rate=drop_path_rate,
        )
