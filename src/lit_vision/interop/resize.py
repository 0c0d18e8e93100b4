"""Adapt pretrained weights (already in lit_vision's key layout) to a network built for another run.

`adapt_state_dict(weights, net)` returns the tensors to load and what changed:
- classifier tensors whose class count differs are dropped, so the new head keeps its fresh initialization;
- the input conv is adapted to another channel count as timm does (1 channel: sum over the pretrained channels;
  more: the pretrained channels repeated and scaled by pretrained / new channels);
- ViT absolute position embeddings are resampled (bicubic, anti-aliased) to the new patch grid;
- Swin relative-position bias tables, (2M-1)^2 x heads, are resampled to a new window M' the way BEiT / timm do it: the
  source offsets are spread geometrically so that the outermost lands on the new table's edge, then each head's table
  is interpolated linearly (clamped at the edges) at the integer offsets of the new table.
Any other difference (a missing, unexpected or differently shaped tensor) is a one-line ValueError naming the tensor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from lit_vision.nn.vit import resize_pos_embed

__all__ = [
    "AdaptReport",
    "adapt_in_chans",
    "adapt_state_dict",
    "classifier_prefixes",
    "resample_relative_position_table",
]

# buffers some layouts save that lit_vision recomputes (non-persistent here)
IGNORED_SUFFIXES = ("relative_position_index", "attn_mask")
INPUT_CONVS = ("patch_embed.proj.weight", "stem.proj.weight")
CLASSIFIER_NAMES = ("head", "fc", "classifier")


@dataclass
class AdaptReport:
    """What `adapt_state_dict` did, for the one-line summary at fit start."""

    loaded: int = 0
    head: tuple[int, int] | None = None  # (pretrained classes, new classes) when the head was re-initialized
    head_dropped: bool = False
    head_missing: bool = False
    in_chans: tuple[int, int] | None = None
    pos_embed: tuple[tuple[int, int], tuple[int, int]] | None = None
    tables: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)

    def line(self, source: str) -> str:
        parts = [f"{self.loaded} tensors loaded"]
        if self.head is not None:
            parts.append(f"head {self.head[0]} → {self.head[1]} classes (re-initialized)")
        if self.head_dropped:
            parts.append("head dropped (num_classes=0)")
        if self.head_missing:
            parts.append("head initialized (the weights have none)")
        if self.in_chans is not None:
            how = "summed" if self.in_chans[1] == 1 else "repeated and scaled"
            parts.append(f"input channels {self.in_chans[0]} → {self.in_chans[1]} ({how})")
        if self.pos_embed is not None:
            (h0, w0), (h1, w1) = self.pos_embed
            parts.append(f"position embedding {h0}×{w0} → {h1}×{w1}")
        if self.tables:
            sizes = ", ".join(f"{a[0]}×{a[1]} → {b[0]}×{b[1]}" for a, b in self.tables)
            parts.append(f"relative-position tables {sizes}")
        return f"pretrained {source}: " + "; ".join(parts)


def classifier_prefixes(net: nn.Module) -> tuple[str, ...]:
    """Module names of the classifier: `head` (ViT, Swin, ConvMixer, timm), `fc` / `classifier` (FCCN, ResNet, VGG)."""
    names = tuple(name for name in CLASSIFIER_NAMES if isinstance(getattr(net, name, None), nn.Module))
    return names[:1]


def _in(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def adapt_in_chans(weight: Tensor, in_chans: int) -> Tensor:
    """Input-conv weight (out, C, kh, kw) for `in_chans` input channels: 1 sums the C pretrained channels; more
    repeats them cyclically and scales by C / in_chans, so an input of equal channels gives the same activation."""
    base = weight.shape[1]
    if in_chans == base:
        return weight
    dtype = weight.dtype
    weight = weight.float()
    if in_chans == 1:
        adapted = weight.sum(dim=1, keepdim=True)
    else:
        index = torch.arange(in_chans) % base
        adapted = weight[:, index] * (base / in_chans)
    return adapted.to(dtype)


def _geometric_offsets(src: int, dst: int) -> list[float]:
    """Offsets -r..r (src values) of a source table side `src`, spread so the outermost lies near the new edge
    dst // 2: gaps grow by a ratio q in (1.01, 1.5) found by bisection on 1 + q + ... + q^(src//2 - 1) = dst // 2."""
    half = src // 2
    low, high, ratio = 1.01, 1.5, 1.01
    while high - low > 1e-6:
        ratio = (low + high) / 2.0
        if (1.0 - ratio**half) / (1.0 - ratio) > dst // 2:
            high = ratio
        else:
            low = ratio
    positive, position = [], 1.0
    for i in range(half):
        positive.append(position)
        position += ratio ** (i + 1)
    return [-p for p in reversed(positive)] + [0.0] + positive


def _linear_weights(points: Tensor, targets: Tensor) -> Tensor:
    """(len(targets), len(points)) matrix of 1-D linear interpolation on sorted `points`, constant past the ends."""
    weights = torch.zeros(len(targets), len(points), dtype=torch.float64)
    for row, t in enumerate(targets.tolist()):
        if t <= points[0]:
            weights[row, 0] = 1.0
        elif t >= points[-1]:
            weights[row, -1] = 1.0
        else:
            right = int(torch.searchsorted(points, torch.tensor(t, dtype=points.dtype)))
            left = right - 1
            span = float(points[right] - points[left])
            weights[row, left] = float(points[right] - t) / span
            weights[row, right] = float(t - points[left]) / span
    return weights


def resample_relative_position_table(table: Tensor, new_window: tuple[int, int]) -> Tensor:
    """Swin bias table ((2M-1)^2, heads) of a square window M -> ((2M'-1)*(2N'-1), heads) for `new_window` (M', N')."""
    entries, heads = table.shape
    side = round(entries**0.5)
    if side * side != entries:
        raise ValueError(f"relative-position table of {entries} rows is not square; cannot infer its window")
    new_h, new_w = 2 * new_window[0] - 1, 2 * new_window[1] - 1
    if (side, side) == (new_h, new_w):
        return table
    rows_y = torch.tensor(_geometric_offsets(side, new_h), dtype=torch.float32).double()
    rows_x = torch.tensor(_geometric_offsets(side, new_w), dtype=torch.float32).double()
    target_y = torch.arange(-(new_h // 2), new_h // 2 + 1, dtype=torch.float64)
    target_x = torch.arange(-(new_w // 2), new_w // 2 + 1, dtype=torch.float64)
    weight_y, weight_x = _linear_weights(rows_y, target_y), _linear_weights(rows_x, target_x)
    grid = table.detach().double().cpu().T.reshape(heads, side, side)
    resized = weight_y @ grid @ weight_x.T  # (heads, new_h, new_w)
    return resized.reshape(heads, -1).T.contiguous().to(device=table.device, dtype=table.dtype)


def _table_window(net: nn.Module, key: str) -> tuple[int, int]:
    module = net.get_submodule(key.rsplit(".", 1)[0])
    window = module.window_size
    return (window, window) if isinstance(window, int) else (int(window[0]), int(window[1]))


def _mismatch(key: str, got: tuple[int, ...], want: tuple[int, ...], net: nn.Module) -> ValueError:
    return ValueError(
        f"pretrained tensor {key!r} has shape {got} but {type(net).__name__} needs {want}; set the model's "
        "architecture arguments (widths, depths, heads, patch/kernel sizes) to those of the pretrained weights"
    )


def adapt_state_dict(
    weights: Mapping[str, Tensor], net: nn.Module, source_grid: tuple[int, int] | None = None
) -> tuple[dict[str, Tensor], AdaptReport]:
    """Tensors of `weights` (lit_vision layout) fitted to `net`, and a report; missing classifier tensors stay as
    initialized. `source_grid`: the pretrained ViT's patch grid when it is not square."""
    target = net.state_dict()
    heads = classifier_prefixes(net)
    report = AdaptReport()
    weights = {k: v for k, v in weights.items() if not k.endswith(IGNORED_SUFFIXES)}
    for key in weights:
        if key not in target:
            if _in(key, heads) or (not heads and key.startswith(CLASSIFIER_NAMES)):
                report.head_dropped = True
                continue
            raise ValueError(
                f"pretrained tensor {key!r} has no place in {type(net).__name__}; the weights are of a larger or "
                "different architecture: set the model's depth / stage arguments to those of the pretrained weights"
            )
    out: dict[str, Tensor] = {}
    for key, ref in target.items():
        if key not in weights:
            if _in(key, heads):
                report.head_missing = True
                continue
            raise ValueError(
                f"pretrained weights lack tensor {key!r} of {type(net).__name__}; they are of another architecture: "
                "set the model's arguments to those of the pretrained weights"
            )
        value = weights[key]
        if value.shape == ref.shape:
            out[key] = value
        elif _in(key, heads):
            if ref.ndim >= 1 and value.shape[1:] == ref.shape[1:]:
                report.head = (int(value.shape[0]), int(ref.shape[0]))
                continue
            raise _mismatch(key, tuple(value.shape), tuple(ref.shape), net)
        elif (
            key in INPUT_CONVS
            and value.ndim == 4
            and value.shape[0] == ref.shape[0]
            and value.shape[2:] == ref.shape[2:]
        ):
            out[key] = adapt_in_chans(value, ref.shape[1])
            report.in_chans = (int(value.shape[1]), int(ref.shape[1]))
        elif key.endswith("pos_embed") and value.ndim == 3 and value.shape[-1] == ref.shape[-1]:
            prefix = getattr(net, "num_prefix_tokens", 0)
            grid = tuple(net.patch_embed.grid_size)
            old = source_grid
            if old is None:
                side = round((value.shape[1] - prefix) ** 0.5)
                old = (side, side)
            out[key] = resize_pos_embed(value, grid, old, num_prefix_tokens=prefix)
            report.pos_embed = (tuple(old), grid)
        elif key.endswith("relative_position_bias_table") and value.ndim == 2 and value.shape[1] == ref.shape[1]:
            window = _table_window(net, key)
            out[key] = resample_relative_position_table(value, window)
            side = round(value.shape[0] ** 0.5)
            change = ((side, side), (2 * window[0] - 1, 2 * window[1] - 1))
            if change not in report.tables:
                report.tables.append(change)
        else:
            raise _mismatch(key, tuple(value.shape), tuple(ref.shape), net)
    report.loaded = len(out)
    return out, report
