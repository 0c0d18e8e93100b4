"""State-dict key rules shared by checkpoint saving, loading and the pre-flight check of ``--ckpt_path``."""

__all__ = ["COMPILE_PREFIX", "strip_compile_prefix"]

COMPILE_PREFIX = "_orig_mod"  # the attribute torch.compile's OptimizedModule stores the wrapped module under


def strip_compile_prefix(name: str) -> str:
    """State-dict key without torch.compile's wrapper component, wherever it sits.

    ``net._orig_mod.head.weight`` (a compiled submodule) and ``_orig_mod.net.head.weight`` (a compiled whole model)
    both become ``net.head.weight``; names that merely contain the text (``my_orig_mod.w``) are left alone.
    """
    return ".".join(part for part in name.split(".") if part != COMPILE_PREFIX)
