"""Weight conversion to and from reference implementations, and model profiling."""

from lit_vision.interop.profile import profile
from lit_vision.interop.timm import from_timm, to_timm

__all__ = ["from_timm", "to_timm", "profile"]
