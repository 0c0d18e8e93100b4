"""The FCCN loss (Yadav & Jerripothula, ICCV 2023): cross-entropy on magnitudes plus a phase term.

With complex logits z (B, K) and labels y, class scores are |z| and the prediction is argmax |z|.

- ``phase="angle"`` (the official code): ``loss = (CE(|z|, y) - lambda * mean_{b,k}(onehot(y) * angle(z))) / 2``.
  The mean runs over B*K elements, so the phase term is scaled by 1/K; minimizing it pushes the true-class phase
  towards +pi, and it is discontinuous at +-pi.
- ``phase="cosine"`` (smooth variant): ``loss = (CE(|z|, y) + lambda * mean_b(1 - cos(angle(z_{b,y_b})))) / 2``,
  which pulls the true-class phase towards 0 (the e^{i0} target drawn in the paper's figure).

`FCCNLoss` returns the total and both parts, so they can be logged separately. ``phase`` is the penalty as it
enters the total: ``loss = (magnitude + lambda_phase * phase) / 2``. Soft targets (B, K) (mixup, cutmix) weight each
class's phase by its probability, as onehot(y) does for hard labels.
"""

from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

PhaseTerm = Literal["angle", "cosine"]


class FCCNLossOutput(NamedTuple):
    loss: torch.Tensor
    magnitude: torch.Tensor
    phase: torch.Tensor


def complex_logits(z: torch.Tensor, where: str = "FCCNLoss") -> torch.Tensor:
    """Check and flatten complex logits (B, K) or (B, K, 1, 1) to (B, K)."""
    if not isinstance(z, torch.Tensor) or not z.is_complex():
        got = z.dtype if isinstance(z, torch.Tensor) else type(z).__name__
        raise TypeError(f"{where} expects complex logits of shape (B, K), got {got}; the network must return complex z")
    if z.ndim == 4 and z.shape[-2:] == (1, 1):
        z = z.flatten(1)
    if z.ndim != 2:
        raise ValueError(f"{where} expects complex logits of shape (B, K) or (B, K, 1, 1), got {tuple(z.shape)}")
    return z


def _check_phase(phase: str) -> None:
    if phase not in ("angle", "cosine"):
        raise ValueError(f"FCCNLoss phase={phase!r} is not supported; use 'angle' (official) or 'cosine' (smooth)")


def fccn_loss(
    z: torch.Tensor,
    target: torch.Tensor,
    lambda_phase: float = 1.0,
    phase: PhaseTerm = "angle",
    label_smoothing: float = 0.0,
) -> FCCNLossOutput:
    """Functional form of `FCCNLoss`; returns (loss, magnitude, phase)."""
    z = complex_logits(z)
    _check_phase(phase)
    soft = target.is_floating_point()
    if (soft and target.shape != z.shape) or (not soft and (target.ndim != 1 or target.shape[0] != z.shape[0])):
        raise ValueError(
            f"FCCNLoss expects class indices of shape ({z.shape[0]},) or class probabilities of shape "
            f"{tuple(z.shape)}, got {target.dtype} {tuple(target.shape)}"
        )
    with torch.autocast(device_type=z.device.type, enabled=False):
        magnitude = F.cross_entropy(z.abs(), target, label_smoothing=label_smoothing)
        if soft:
            angles = torch.angle(z)
            weights = target.to(angles.dtype)
        else:
            weights, angles = None, torch.angle(z.gather(1, target[:, None])).squeeze(1)
        if phase == "angle":
            penalty = -(angles if weights is None else weights * angles).sum() / z.numel()
        else:
            cost = 1.0 - torch.cos(angles)
            penalty = (cost if weights is None else (weights * cost).sum(1)).mean()
        return FCCNLossOutput((magnitude + lambda_phase * penalty) / 2, magnitude, penalty)


class FCCNLoss(nn.Module):
    """FCCN loss on complex logits; forward returns `FCCNLossOutput(loss, magnitude, phase)`.

    Args:
        lambda_phase: weight of the phase term: loss = (magnitude + lambda_phase * phase) / 2.
        phase: phase term: "angle" (official) or "cosine" (smooth); see the module docstring.
        label_smoothing: label smoothing of the cross-entropy on the magnitudes.
    """

    def __init__(self, lambda_phase: float = 1.0, phase: PhaseTerm = "angle", label_smoothing: float = 0.0) -> None:
        super().__init__()
        _check_phase(phase)
        self.lambda_phase = lambda_phase
        self.phase = phase
        self.label_smoothing = label_smoothing

    def forward(self, z: torch.Tensor, target: torch.Tensor) -> FCCNLossOutput:
        return fccn_loss(z, target, self.lambda_phase, self.phase, self.label_smoothing)

    def extra_repr(self) -> str:
        return f"lambda_phase={self.lambda_phase}, phase={self.phase!r}, label_smoothing={self.label_smoothing}"
