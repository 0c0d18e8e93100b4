"""Checks of a run against this machine and its inputs before anything is built or launched: accelerator, device
count, precision, node count, checkpoint file. Each raises a one-line ValueError / FileNotFoundError that names the
argument, the bad value and the fix (`lit-vision` prints it as `lit-vision: error: ...`)."""

import importlib
import os
import zipfile
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from lit_vision.data.loading import available_cpus
from lit_vision.state_dict import strip_compile_prefix

# --ckpt_path values that Lightning resolves itself
SPECIAL_CKPT_PATHS = ("last", "best", "hpc", "registry")


def _device_type(accelerator: Any) -> str | None:
    """'cpu', 'cuda', 'mps' or 'tpu' for what `accelerator` selects on this machine; None for custom accelerators."""
    if not isinstance(accelerator, str):
        return None
    name = accelerator.lower()
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if torch.backends.mps.is_available() else "cpu"
    return {"gpu": "cuda"}.get(name, name)


def _requested_devices(devices: Any) -> list[int] | int | None:
    """An explicit count (int), explicit indices (list), or None for 'auto' / -1."""
    if isinstance(devices, str):
        text = devices.strip()
        if text in ("auto", "-1"):
            return None
        if "," in text:
            return [int(part) for part in text.split(",") if part.strip()]
        return int(text) if text.lstrip("-").isdigit() else None
    if isinstance(devices, list | tuple):
        return [int(index) for index in devices]
    if isinstance(devices, int):
        return None if devices == -1 else devices
    return None


def _under_a_multi_node_launcher() -> bool:
    from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    manual = all(name in os.environ for name in ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK"))
    return SLURMEnvironment.detect() or TorchElasticEnvironment.detect() or manual


def check_machine(trainer: Mapping[str, Any]) -> None:
    """The trainer arguments `accelerator`, `devices`, `precision` and `num_nodes` against this machine."""
    accelerator = trainer.get("accelerator", "auto")
    device_type = _device_type(accelerator)
    if device_type == "cuda" and not torch.cuda.is_available():
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        why = f"CUDA_VISIBLE_DEVICES={visible!r}" if visible is not None else "torch.cuda.is_available() is False"
        raise ValueError(
            f"--trainer.accelerator {accelerator}: no CUDA GPU is visible here ({why}); "
            "use --trainer.accelerator cpu, or auto to take a GPU when there is one"
        )
    if device_type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--trainer.accelerator {accelerator}: Apple MPS is not available here; use cpu or auto")

    devices = _requested_devices(trainer.get("devices", "auto"))
    if device_type == "cpu" and isinstance(devices, int) and devices > available_cpus():
        cores = available_cpus()
        raise ValueError(
            f"--trainer.devices {devices}: on the CPU each device is one training process, and this machine gives this "
            f"run {cores} CPU core(s); use --trainer.devices {cores} or fewer"
        )
    if device_type == "cuda":
        count = torch.cuda.device_count()
        wanted = max(devices) + 1 if isinstance(devices, list) and devices else devices
        if isinstance(wanted, int) and wanted > count:
            raise ValueError(
                f"--trainer.devices {trainer.get('devices')}: asks for {wanted} GPU(s) but {count} are visible; "
                f"use --trainer.devices {count} (or auto)"
            )

    precision = str(trainer.get("precision") or "")
    if precision.startswith("bf16") and device_type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(
            f"--trainer.precision {precision}: this GPU ({torch.cuda.get_device_name()}) has no bfloat16 support; "
            "use --trainer.precision 16-mixed"
        )
    if precision.startswith("transformer-engine") and device_type != "cuda":
        raise ValueError(f"--trainer.precision {precision} needs an NVIDIA GPU; use bf16-mixed or 32-true here")
    if precision.startswith("64") and device_type == "mps":
        raise ValueError(f"--trainer.precision {precision}: MPS has no float64; use 32-true")

    num_nodes = trainer.get("num_nodes") or 1
    if num_nodes > 1 and not _under_a_multi_node_launcher():
        raise ValueError(
            f"--trainer.num_nodes {num_nodes} needs a launcher that starts the processes on every node: submit "
            "scripts/slurm/train.sbatch (srun), or use torchrun --nnodes; on one machine use --trainer.num_nodes 1"
        )


def _starts_like_a_zip(path: str) -> bool:
    with open(path, "rb") as file:
        return file.read(4) == b"PK\x03\x04"


def _examples(names: list[str], limit: int = 2) -> str:
    shown = ", ".join(names[:limit])
    return shown + (", ..." if len(names) > limit else "")


def _same_class(first: str, second: str) -> bool:
    """Whether two import paths name one class (`lit_vision.models.X` is `lit_vision.models.x.X`)."""
    if first == second:
        return True

    def resolve(path: str) -> Any:
        module, _, name = path.rpartition(".")
        return getattr(importlib.import_module(module), name)

    try:
        return resolve(first) is resolve(second)
    except (ImportError, AttributeError, ValueError):
        return first.rsplit(".", 1)[-1] == second.rsplit(".", 1)[-1]


def check_checkpoint(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    weights_only: bool | None = None,
    model_class_path: str | None = None,
) -> None:
    """`path` must be a readable Lightning checkpoint of the configured model: saved from `model_class_path` (when
    the checkpoint names its class) and with the names and shapes of `model`'s weights."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"--ckpt_path {path}: no such file; give a checkpoint written by `lit-vision fit` "
            "(logs/<name>/version_<n>/checkpoints/*.ckpt) or `last`"
        )
    is_zip = _starts_like_a_zip(path)
    try:  # mmap: tensors stay on disk, so even a large checkpoint is checked in a moment
        checkpoint = torch.load(path, map_location="cpu", weights_only=weights_only is not False, mmap=is_zip)
    except Exception as error:  # torch.load raises many types for bad files
        text = str(error)
        if "Weights only load failed" in text and "WeightsUnpickler error:" in text:
            detail = text.split("WeightsUnpickler error:", 1)[1].strip().splitlines()[0][:100]
            if "Unsupported operand" not in detail:  # a pickle of Python objects, not random bytes
                raise ValueError(
                    f"--ckpt_path {path} holds Python objects that torch.load(weights_only=True) refuses ({detail}); "
                    "lit-vision loads checkpoints of tensors and plain values, as `lit-vision fit` writes them"
                ) from None
        if not is_zip:
            reason = "not the zip archive torch.save writes"
        elif not zipfile.is_zipfile(path):
            reason = "a zip archive cut short"
        else:
            reason = (text.strip().splitlines() or [type(error).__name__])[0][:100]
        raise ValueError(
            f"--ckpt_path {path} is not a readable checkpoint ({os.path.getsize(path)} bytes, {reason}); it is "
            "truncated, corrupt or not a torch.save file: use another one, e.g. last.ckpt beside it"
        ) from None
    if not isinstance(checkpoint, Mapping) or not isinstance(checkpoint.get("state_dict"), Mapping):
        found = (
            f"a dict with keys {_examples(sorted(map(str, checkpoint)), 4)}"
            if isinstance(checkpoint, Mapping)
            else (f"a {type(checkpoint).__name__}")
        )
        raise ValueError(
            f"--ckpt_path {path} is not a Lightning checkpoint: it holds {found} and no 'state_dict'; "
            "give a checkpoint written by `lit-vision fit` (Trainer.save_checkpoint)"
        )
    saved_by = (checkpoint.get("hyper_parameters") or {}).get("_class_path")
    if saved_by and model_class_path and not _same_class(saved_by, model_class_path):
        raise ValueError(
            f"--ckpt_path {path} was saved from {saved_by}, but the config builds {model_class_path}: pass the config "
            "it was trained with (config.yaml in its run directory), or a checkpoint of this model"
        )
    if model is None:
        return
    expected = {strip_compile_prefix(name): tuple(value.shape) for name, value in model.state_dict().items()}
    if not expected:  # layers made later (configure_model): nothing to compare yet
        return
    found = {
        strip_compile_prefix(name): tuple(getattr(value, "shape", ()))
        for name, value in checkpoint["state_dict"].items()
    }
    missing = sorted(expected.keys() - found.keys()) if getattr(model, "strict_loading", True) else []
    unexpected = sorted(found.keys() - expected.keys())
    reshaped = sorted(name for name in expected.keys() & found.keys() if expected[name] != found[name])
    if not (missing or unexpected or reshaped):
        return
    problems = []
    if reshaped:
        name = reshaped[0]
        problems.append(f"{len(reshaped)} tensor(s) of other shapes (e.g. {name}: {found[name]} vs {expected[name]})")
    if missing:
        problems.append(f"{len(missing)} missing ({_examples(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected ({_examples(unexpected)})")
    origin = f"it was saved from {saved_by}; " if saved_by else ""
    raise ValueError(
        f"--ckpt_path {path} does not fit the configured {type(model).__name__}: {origin}{'; '.join(problems)}; "
        "use the config it was trained with (config.yaml in its run directory)"
    )
