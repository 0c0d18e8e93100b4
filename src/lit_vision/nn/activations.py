"""Activation lookup by name, so configs and presets can say `act_layer: gelu`."""

from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "gelu": nn.GELU,
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}


def get_activation(name: str | type[nn.Module]) -> type[nn.Module]:
    if not isinstance(name, str):
        return name
    try:
        return ACTIVATIONS[name.lower()]
    except KeyError:
        raise ValueError(f"act_layer={name!r} is not supported; choose one of {sorted(ACTIVATIONS)}") from None
