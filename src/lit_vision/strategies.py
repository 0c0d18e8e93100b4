"""Fully sharded data parallel training (FSDP2) for the large presets: `configs/trainer/fsdp.yaml`.

Each process keeps 1/N of every parameter, gradient and optimizer state; a wrapped block all-gathers its full weights
just before it runs and frees them after (forward and backward), and gradients are reduce-scattered. Activation
checkpointing recomputes each block's activations in the backward pass instead of storing them.

Why not Lightning's `FSDPStrategy` (FSDP1): Lightning refuses it without a GPU (`lightning/pytorch/trainer/connectors/
accelerator_connector.py`, `_check_strategy_and_fallback`: "The strategy `fsdp` requires a GPU accelerator"), so it
could not be tested on the CPU, and FSDP1 is deprecated in PyTorch. Lightning's `ModelParallelStrategy` runs FSDP2
(`torch.distributed.fsdp.fully_shard`) on both the CPU (gloo) and GPUs (nccl) but needs `data_parallel_size` x
`tensor_parallel_size` written for each machine and the sharding written in every module's `configure_model`.
`FSDP2Strategy` is that strategy with all processes in one sharding group and the sharding done here
(`ImageClassifier.configure_model` calls `shard`). Checkpoints are full state dicts in one file by default, so a
checkpoint of a sharded run loads into a single-process model (`lit-vision test --ckpt_path ...`).
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

import torch.distributed as dist
from lightning.fabric.plugins.collectives.torch_collective import default_pg_timeout
from lightning.pytorch.strategies import ModelParallelStrategy
from torch import nn
from torch.utils.checkpoint import checkpoint

from lit_vision._compat import set_model_parallel_sizes

# The repeated blocks of lit-vision's and timm's networks: each becomes one FSDP unit (all-gathered as a whole)
DEFAULT_WRAP_MODULES = (
    "lit_vision.nn.vit.Block",
    "lit_vision.nn.swin_layers.SwinBlock",
    "lit_vision.nn.transformer_layers.TransformerEncoderLayer",
    "lit_vision.nn.transformer_layers.TransformerDecoderLayer",
    "lit_vision.nn.convmixer.ConvMixerBlock",
    "timm.models.vision_transformer.Block",
    "timm.models.swin_transformer.SwinTransformerBlock",
)


def class_path(module: nn.Module) -> str:
    """`package.module.Class` of a module, seen through FSDP2's per-class subclass (`FSDPBlock` -> `...Block`)."""
    from torch.distributed.fsdp import FSDPModule

    cls = type(module)
    if isinstance(module, FSDPModule):
        cls = next(base for base in cls.__mro__[1:] if not issubclass(base, FSDPModule))
    return f"{cls.__module__}.{cls.__qualname__}"


def is_sharded(module: nn.Module) -> bool:
    """Whether any part of `module` is sharded by FSDP2 (then a forward pass needs every process)."""
    from torch.distributed.fsdp import FSDPModule

    return any(isinstance(part, FSDPModule) for part in module.modules())


# Entry points besides `forward` that a parent may call on a block directly (ViT's attention maps): FSDP must
# gather the block's weights around them too
FORWARD_METHODS = ("forward_with_attention",)
CHECKPOINTED_METHODS = ("forward",)


def checkpoint_activations(module: nn.Module) -> None:
    """Make `module` recompute its activations in the backward pass instead of storing them (non-reentrant
    `torch.utils.checkpoint` around `forward`). Parameter names and the state dict stay."""
    for name in CHECKPOINTED_METHODS:
        if callable(getattr(type(module), name, None)):  # a partial: deepcopy rebinds it to the copy
            setattr(module, name, functools.partial(_checkpointed_call, module, name))


def _checkpointed_call(module: nn.Module, name: str, *args: Any, **kwargs: Any) -> Any:
    return checkpoint(getattr(type(module), name), module, *args, use_reentrant=False, **kwargs)


class FSDP2Strategy(ModelParallelStrategy):
    """Fully sharded data parallel (FSDP2) over all processes, on GPUs (nccl) and on the CPU (gloo).

    Each module whose class is in ``wrap_modules`` is one FSDP unit, the rest of the network another; the weights
    are broadcast from rank 0 before sharding (as DDP does), so every process starts from the same model. With
    ``precision: bf16-mixed`` the forward runs under bfloat16 autocast as with DDP (float32 shards, gathers,
    reductions and optimizer; FSDP2's bfloat16 `MixedPrecisionPolicy` fails on BatchNorm networks such as ConvMixer).

    Args:
        wrap_modules: class paths (or bare class names) of the blocks to shard one by one; the default covers the
            blocks of lit-vision's ViT, Swin, Transformer and ConvMixer and of timm's ViT and Swin.
        activation_checkpointing: recompute each wrapped block's activations in the backward pass (less memory,
            about one more forward pass of compute).
        reshard_after_forward: free the gathered weights of a block after its forward (ZeRO-3; gathered again for
            the backward); false keeps them until the backward (ZeRO-2-like: more memory, less communication).
        save_distributed_checkpoint: true writes one shard per process into a checkpoint folder (fast for huge
            models); false gathers a full single-file checkpoint on rank 0 that a single process can load.
        process_group_backend: "gloo", "nccl", ...; None picks nccl on CUDA, gloo on the CPU.
        timeout: timeout of collective operations.
    """

    def __init__(
        self,
        wrap_modules: list[str] | None = None,
        activation_checkpointing: bool = False,
        reshard_after_forward: bool = True,
        save_distributed_checkpoint: bool = False,
        process_group_backend: str | None = None,
        timeout: timedelta | None = default_pg_timeout,
    ) -> None:
        super().__init__(
            data_parallel_size="auto",
            tensor_parallel_size=1,
            save_distributed_checkpoint=save_distributed_checkpoint,
            process_group_backend=process_group_backend,
            timeout=timeout,
        )
        self.wrap_modules = list(DEFAULT_WRAP_MODULES if wrap_modules is None else wrap_modules)
        self.activation_checkpointing = activation_checkpointing
        self.reshard_after_forward = reshard_after_forward

    def setup_environment(self) -> None:
        set_model_parallel_sizes(self, data_parallel=self.num_nodes * self.num_processes, tensor_parallel=1)
        super().setup_environment()

    def shard(self, net: nn.Module) -> None:
        """Shard `net` in place over all processes (`shard_network`). Called from the LightningModule's
        `configure_model`; a second call (test after fit) does nothing."""
        shard_network(
            net,
            self.device_mesh["data_parallel"],
            self.wrap_modules,
            activation_checkpointing=self.activation_checkpointing,
            reshard_after_forward=self.reshard_after_forward,
        )


def shard_network(
    net: nn.Module,
    mesh: Any,
    wrap_modules: list[str] | tuple[str, ...] = DEFAULT_WRAP_MODULES,
    activation_checkpointing: bool = False,
    reshard_after_forward: bool = True,
    mp_policy: Any = None,
) -> list[nn.Module]:
    """`fully_shard` each module of `net` whose class path or name is in `wrap_modules` (innermost first, with
    activation checkpointing if asked), then `net` itself, over the 1-D device `mesh`; returns the wrapped blocks.
    The weights are broadcast from rank 0 first, so every shard comes from the same model."""
    from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

    if is_sharded(net):
        return []
    names = set(wrap_modules)
    blocks = [
        module
        for module in net.modules()
        if module is not net and (class_path(module) in names or type(module).__name__ in names)
    ]
    if not blocks:
        found = sorted({class_path(module) for module in net.modules()})
        raise ValueError(
            f"FSDP2Strategy: no module of {type(net).__name__} matches wrap_modules={list(wrap_modules)}; add the "
            f"class of its repeated block, one of {found}"
        )
    if dist.is_available() and dist.is_initialized():
        for tensor in [*net.parameters(), *net.buffers()]:
            dist.broadcast(tensor.data, src=0)
    options: dict[str, Any] = {"mesh": mesh, "reshard_after_forward": reshard_after_forward}
    if mp_policy is not None:
        options["mp_policy"] = mp_policy
    for block in reversed(blocks):  # innermost first, as fully_shard wants
        if activation_checkpointing:
            checkpoint_activations(block)
        fully_shard(block, **options)
        for name in FORWARD_METHODS:
            if callable(getattr(block, name, None)):
                register_fsdp_forward_method(block, name)
    fully_shard(net, **options)
    return blocks
