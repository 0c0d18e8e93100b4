"""Batched JPEG decoding on the device (`decode_device: cuda`): DataLoader workers read each file and draw its crop
box and flip from the JPEG header alone; after the transfer, one `decode_jpegs` call (nvJPEG on CUDA) decodes the
batch, and each image is cropped, resized and flipped on the device.

Files the device does not take as they are (PNG, progressive or CMYK JPEG, EXIF-rotated, ...) are decoded in the
workers as with `decode_device: cpu` and travel decoded. Run with the batch on the CPU, the same code gives exactly
the tensors the workers give (the tests check it that way); on CUDA the resize runs in float32 and may differ by 1
in a few pixels. A JPEG that fails to decode on the device is reported with its path and left black (no substitute).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch.utils.data import default_collate

from lit_vision.data.decode import Box, UnreadableImage, crop_resize, decode_jpegs


class EncodedCrop(NamedTuple):
    """A worker's item for the device: the file's bytes, the crop box in its pixels and whether to flip it."""

    data: bytes
    box: Box
    flip: bool
    path: str


class EncodedBatch:
    """A batch in transit: images the workers decoded (uint8 (K, 3, S, S) at `decoded_at`) and JPEG bytes still to
    decode (concatenated, `offsets` into them; boxes, flips and paths at `encoded_at`). `.to(device)` moves only the
    decoded images (the JPEG bytes stay on the CPU, where nvJPEG reads them); `decode` builds the (B, 3, S, S) batch
    on the images' device."""

    def __init__(
        self,
        size: int,
        images: torch.Tensor,
        decoded_at: list[int],
        encoded: torch.Tensor,
        offsets: list[int],
        encoded_at: list[int],
        boxes: list[Box],
        flips: list[bool],
        paths: list[str],
    ) -> None:
        self.size, self.images, self.decoded_at = size, images, decoded_at
        self.encoded, self.offsets, self.encoded_at = encoded, offsets, encoded_at
        self.boxes, self.flips, self.paths = boxes, flips, paths

    def __len__(self) -> int:
        return self.size

    def _with_images(self, images: torch.Tensor) -> EncodedBatch:
        return EncodedBatch(
            self.size, images, self.decoded_at, self.encoded, self.offsets, self.encoded_at, self.boxes, self.flips,
            self.paths,
        )  # fmt: skip

    def to(self, device: torch.device | str, **kwargs) -> EncodedBatch:
        return self._with_images(self.images.to(device, **kwargs))

    def pin_memory(self, device: torch.device | str | None = None) -> EncodedBatch:
        return self._with_images(self.images.pin_memory())

    def decode(self, image_size: int, interpolation: str = "bilinear") -> tuple[torch.Tensor, dict[int, str]]:
        """(uint8 (B, 3, S, S) on the images' device, {position: "<path>: <reason>"} of JPEGs that failed to decode,
        left black)."""
        device = self.images.device
        batch = torch.zeros(self.size, 3, image_size, image_size, dtype=torch.uint8, device=device)
        if self.decoded_at:
            batch[self.decoded_at] = self.images
        chunks = [self.encoded[start:end] for start, end in zip(self.offsets[:-1], self.offsets[1:])]
        failed = {}
        for position, image, box, flip, path in zip(
            self.encoded_at, decode_jpegs(chunks, device) if chunks else [], self.boxes, self.flips, self.paths
        ):
            if isinstance(image, UnreadableImage):
                failed[position] = f"{path}: {image}"
                continue
            crop = crop_resize(image, box, image_size, interpolation)
            batch[position] = crop.flip(-1) if flip else crop
        return batch, failed


def collate_encoded(items: list[tuple]) -> tuple[EncodedBatch, object, list[str]]:
    """DataLoader collate_fn of `(image or EncodedCrop, target, problem)` items -> (EncodedBatch, targets, problems)."""
    payloads = [item[0] for item in items]
    decoded_at = [i for i, payload in enumerate(payloads) if isinstance(payload, torch.Tensor)]
    encoded_at = [i for i, payload in enumerate(payloads) if not isinstance(payload, torch.Tensor)]
    crops = [payloads[i] for i in encoded_at]
    offsets = [0]
    for crop in crops:
        offsets.append(offsets[-1] + len(crop.data))
    encoded = torch.frombuffer(bytearray(b"".join(crop.data for crop in crops)) or bytearray(1), dtype=torch.uint8)
    if decoded_at:
        images = torch.stack([payloads[i] for i in decoded_at])
    else:
        images = torch.empty(0, 3, 0, 0, dtype=torch.uint8)
    batch = EncodedBatch(
        len(items), images, decoded_at, encoded, offsets, encoded_at, [crop.box for crop in crops],
        [crop.flip for crop in crops], [crop.path for crop in crops],
    )  # fmt: skip
    targets = default_collate([item[1] for item in items])
    return batch, targets, [item[2] for item in items]
