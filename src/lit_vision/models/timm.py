"""TimmClassifier: any timm model trained through the same ImageClassifier logic, for side-by-side runs."""

import importlib
import inspect
import os
from typing import Any

import timm
from lightning.pytorch.utilities import rank_zero_info
from torch import nn

from lit_vision.models.classifier import ImageClassifier

_BASE_ARGS = set(inspect.signature(ImageClassifier.__init__).parameters) - {"self"}


def _timm_class(model_name: str) -> type[nn.Module] | None:
    """`timm.models.convmixer.ConvMixer` names a timm class directly (any size, not only the registered presets)."""
    module_name, _, class_name = model_name.rpartition(".")
    if not module_name.startswith("timm."):
        return None
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        raise ValueError(
            f"model_name={model_name!r} is not a timm class; use e.g. 'timm.models.convmixer.ConvMixer'"
        ) from None


class TimmClassifier(ImageClassifier):
    """A timm model trained through ImageClassifier, for side-by-side runs with our own networks.

    Keyword arguments that ImageClassifier takes (optimizer, label_smoothing, ...) go to it; all others go to the
    timm model, like the entries of ``model_kwargs``.

    Args:
        model_name: a registered timm model (``vit_small_patch16_224``) or a timm class path
            (``timm.models.convmixer.ConvMixer``) for sizes no preset has.
        pretrained: true for timm's pretrained weights of ``model_name``; or a source as for every image model: a
            timm name with tag, ``hf-hub:org/name``, ``local-dir:/path`` (these also choose the architecture), a
            .safetensors / .pth / .bin file of ``model_name`` or a lit-vision .ckpt. timm adapts the head, input
            channels and image size.
        pretrained_file: local weights file to load instead of a hub download (implies ``pretrained``).
        model_kwargs: extra keyword arguments of the timm model, e.g. ``{drop_path_rate: 0.1}``.
    """

    def __init__(
        self,
        model_name: str,
        pretrained: bool | str | None = False,
        pretrained_file: str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        **kwargs,
    ) -> None:
        extra_model_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k not in _BASE_ARGS}
        super().__init__(**kwargs)
        source = pretrained if isinstance(pretrained, str) else None
        if source is not None:
            from lit_vision.interop.pretrained import check_pretrained_source, is_file_source

            check_pretrained_source(source)
            if not is_file_source(source):  # a timm name / hf-hub / local-dir brings its own architecture
                model_name, pretrained = source, True
            elif source.endswith(".ckpt"):
                pretrained = False  # loaded below through lit_vision.interop.pretrained
            else:
                pretrained_file, pretrained = source, True
        create_kwargs = {
            **(model_kwargs or {}),
            **extra_model_kwargs,
            "num_classes": self.num_classes,
            "in_chans": self.in_chans,
        }
        timm_class = _timm_class(model_name)
        if timm_class is not None:
            if pretrained or pretrained_file:
                raise ValueError("pretrained weights need a registered timm model_name, not a class path")
            self.net = timm_class(**create_kwargs)
            return
        if not model_name.startswith(("hf-hub:", "local-dir:")) and not timm.is_model(model_name):
            close = timm.list_models(f"*{model_name.split('_')[0]}*")[:8]
            raise ValueError(f"model_name={model_name!r} is not a timm model; similar names: {close}")
        if pretrained_file:
            if not os.path.isfile(os.path.expanduser(pretrained_file)):
                raise FileNotFoundError(
                    f"pretrained_file={pretrained_file!r} is not a file; give a .safetensors / .pth / .bin file of "
                    f"{model_name}'s weights (e.g. saved with timm.models.save_for_hf)"
                )
            pretrained = True
            create_kwargs["pretrained_cfg_overlay"] = {"file": pretrained_file}
        try:
            try:
                self.net = timm.create_model(
                    model_name, pretrained=pretrained, img_size=self.image_size, **create_kwargs
                )
            except TypeError as error:  # families without an img_size argument (ConvMixer, ResNet, ...)
                if "img_size" not in str(error):
                    raise
                self.net = timm.create_model(model_name, pretrained=pretrained, **create_kwargs)
        except RuntimeError as error:  # torch's many-line state_dict report
            from lit_vision.input_checks import load_error_line

            line = load_error_line(error, f"pretrained_file={pretrained_file or model_name!r}", model_name)
            if line is None:
                raise
            raise ValueError(line) from None
        self._pretrained_loaded = not (source or "").endswith(".ckpt")
        if source is not None and not self._pretrained_loaded:
            self._checkpoint_source = source
        elif pretrained:
            self.pretrained_report = f"pretrained {source or model_name}: loaded by timm (head, channels, size adapted)"

    def load_pretrained(self) -> str | None:
        """timm loads its weights at construction; a lit-vision .ckpt is loaded here, at fit start."""
        source = getattr(self, "_checkpoint_source", None)
        if source is None or self._pretrained_loaded:
            return None
        from lit_vision.interop.pretrained import load_pretrained

        self.pretrained_report = load_pretrained(self.net, source)
        self._pretrained_loaded = True
        rank_zero_info(self.pretrained_report)
        return self.pretrained_report
