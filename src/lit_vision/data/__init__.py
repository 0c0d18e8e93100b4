"""LightningDataModules. Imported lazily so `import lit_vision.data` stays cheap."""

from lit_vision.lazy import lazy_exports

_EXPORTS = {
    "DigitsDataModule": "lit_vision.data.digits",
    "CIFAR10DataModule": "lit_vision.data.cifar",
    "CIFAR100DataModule": "lit_vision.data.cifar",
    "ImageFolderDataModule": "lit_vision.data.image_folder",
    "StreamingImageDataModule": "lit_vision.data.streaming",
    "SequenceDataModule": "lit_vision.data.sequence",
}

__all__ = list(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
