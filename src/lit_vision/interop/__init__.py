"""Weight conversion to and from reference implementations, and model profiling."""

from lit_vision.interop.timm import from_timm, to_timm


def profile(model, input_size, **kwargs):
    """Parameters and multiply-accumulates of one forward pass: {"params": int, "macs": int}."""
    from lit_vision.interop.profile import profile as _profile

    return _profile(model, input_size, **kwargs)


__all__ = ["from_timm", "to_timm", "profile"]
