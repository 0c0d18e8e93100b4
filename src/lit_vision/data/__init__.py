"""LightningDataModules. Imported lazily so `import lit_vision.data` stays cheap."""

import importlib

_EXPORTS = {
    "DigitsDataModule": "lit_vision.data.digits",
    "CIFAR10DataModule": "lit_vision.data.cifar",
    "CIFAR100DataModule": "lit_vision.data.cifar",
    "ImageFolderDataModule": "lit_vision.data.image_folder",
    "SequenceDataModule": "lit_vision.data.sequence",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lit_vision.data' has no attribute {name!r}")
