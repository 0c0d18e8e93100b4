"""uint8 image operations on whole batches with one argument per sample, as PIL computes them: the kernels of
RandAugment (`lit_vision.data.rand_augment`). Color operations build PIL's degenerate image and `blend` it, truncated
to uint8; geometric ones sample an affine grid with PIL's pixel-centre convention, PIL's bicubic kernel (a = -1),
border-clamped neighbours and the fill colour where the source point lies outside the image. Each output is within
one gray level of PIL's (tests/data/test_rand_augment.py).
"""

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def _column(values: Tensor) -> Tensor:
    return values.view(-1, 1, 1, 1)


# --- operations on uint8 batches (N, C, H, W) with one argument per sample ---------------------------------------
def apply_lut(images: Tensor, lut: Tensor) -> Tensor:
    """Map every pixel through its sample's (N, 256) or sample-and-channel's (N, C, 256) lookup table: one gather,
    cheaper than float arithmetic over the pixels."""
    n, c = images.shape[:2]
    lut = lut.to(torch.uint8).reshape(n, -1, 256).expand(n, c, 256).reshape(n * c, 256)
    return lut.gather(1, images.reshape(n * c, -1).long()).view_as(images)


def _levels(images: Tensor) -> Tensor:
    """The 256 gray levels as a (1, 256) float row, to build lookup tables from."""
    return torch.arange(256, dtype=torch.float32, device=images.device)[None]


def invert(images: Tensor, _: Tensor | None = None) -> Tensor:
    return 255 - images


def posterize(images: Tensor, bits: Tensor) -> Tensor:
    """Keep the `bits` most significant bits (0 gives black), PIL's `ImageOps.posterize`."""
    mask = 256 - (2 ** (8 - bits.clamp(0, 8).long()))
    return images & _column(mask.clamp(0, 255).to(torch.uint8))


def solarize(images: Tensor, threshold: Tensor) -> Tensor:
    """Invert the pixels >= `threshold` (256: none), PIL's `ImageOps.solarize`."""
    levels = _levels(images)
    return apply_lut(images, torch.where(levels >= threshold.float()[:, None], 255 - levels, levels))


def solarize_add(images: Tensor, addition: Tensor, threshold: int = 128) -> Tensor:
    """Add `addition` (saturating at 255) to the pixels below `threshold`: timm's `solarize_add`."""
    levels = _levels(images)
    added = (levels + addition.float()[:, None]).clamp_(max=255)
    return apply_lut(images, torch.where(levels < threshold, added, levels))


def grayscale(images: Tensor) -> Tensor:
    """PIL's RGB -> L conversion in integers ((19595 R + 38470 G + 7471 B + 2^15) >> 16) as int32 (N, 1, H, W)."""
    if images.shape[1] == 1:
        return images.to(torch.int32)
    r, g, b = images.to(torch.int32).unbind(1)
    return ((19595 * r + 38470 * g + 7471 * b + 32768) >> 16)[:, None]


def blend(degenerate: Tensor, images: Tensor, factor: Tensor) -> Tensor:
    """PIL's `Image.blend(degenerate, image, factor)`: degenerate + factor (image - degenerate), clipped, truncated."""
    degenerate = degenerate.float()
    out = degenerate + factor.float().view(-1, *[1] * (images.ndim - 1)) * (images.float() - degenerate)
    return out.clamp_(0, 255).to(torch.uint8)  # float -> uint8 truncates, as PIL's C cast


def _constant_blend(images: Tensor, degenerate: Tensor, factor: Tensor) -> Tensor:
    """`blend` with a constant gray degenerate image per sample, through a lookup table."""
    levels = _levels(images).expand(len(factor), 256)
    return apply_lut(images, blend(degenerate[:, None].expand_as(levels), levels, factor))


def brightness(images: Tensor, factor: Tensor) -> Tensor:
    return _constant_blend(images, torch.zeros(len(factor), device=images.device), factor)


def color(images: Tensor, factor: Tensor) -> Tensor:
    return blend(grayscale(images).expand_as(images), images, factor)


def contrast(images: Tensor, factor: Tensor) -> Tensor:
    """Blend with the image's mean gray level, rounded to an integer as `ImageEnhance.Contrast`."""
    mean = (grayscale(images).float().mean(dim=(1, 2, 3)) + 0.5).floor()
    return _constant_blend(images, mean, factor)


def smooth(images: Tensor) -> Tensor:
    """PIL's `ImageFilter.SMOOTH` (3x3 kernel, centre 5, others 1, / 13), rounded; the one-pixel border is kept."""
    c = images.shape[1]
    kernel = torch.ones(3, 3, device=images.device)
    kernel[1, 1] = 5.0
    kernel = (kernel / 13.0).expand(c, 1, 3, 3)
    smoothed = F.conv2d(images.float(), kernel, groups=c).round_().clamp_(0, 255).to(torch.uint8)
    out = images.clone()
    out[:, :, 1:-1, 1:-1] = smoothed
    return out


def sharpness(images: Tensor, factor: Tensor) -> Tensor:
    return blend(smooth(images), images, factor)


def autocontrast(images: Tensor, _: Tensor | None = None) -> Tensor:
    """Stretch each channel from its [min, max] to [0, 255] (`ImageOps.autocontrast`, no cutoff); flat channels stay."""
    low = images.amin(dim=(2, 3))[..., None].float()  # (N, C, 1)
    high = images.amax(dim=(2, 3))[..., None].float()
    flat = high <= low
    levels = _levels(images)
    scaled = ((levels - low) * 255.0 / torch.where(flat, 1.0, high - low)).floor_().clamp_(0, 255)
    return apply_lut(images, torch.where(flat, levels, scaled))


def equalize(images: Tensor, _: Tensor | None = None) -> Tensor:
    """Histogram equalization per channel with PIL's lookup table (`ImageOps.equalize`)."""
    n, c, h, w = images.shape
    flat = images.reshape(n * c, h * w).long()
    offsets = torch.arange(n * c, device=images.device)[:, None] * 256
    histogram = torch.zeros(n * c * 256, dtype=torch.long, device=images.device)
    histogram = histogram.scatter_add_(0, (flat + offsets).flatten(), torch.ones_like(flat).flatten()).view(n * c, 256)
    last = flat.amax(dim=1, keepdim=True)  # the last non-empty bin
    step = (h * w - histogram.gather(1, last)) // 255
    before = histogram.cumsum(1) - histogram  # pixels in the bins below
    lut = ((step // 2 + before) // step.clamp(min=1)).clamp_(0, 255)
    lut = torch.where(step > 0, lut, torch.arange(256, device=images.device))  # one bin or too few: identity
    return apply_lut(images, lut.view(n, c, 256))


def _cubic_weights(fraction: Tensor) -> Tensor:
    """PIL's cubic convolution weights (a = -1, as its affine transforms use) of the taps at -1, 0, 1, 2."""
    d, d2, d3 = fraction, fraction * fraction, fraction * fraction * fraction
    return torch.stack([-d + 2 * d2 - d3, 1 - 2 * d2 + d3, d + d2 - d3, d3 - d2], dim=-1)


def _cubic_taps(coordinate: Tensor, extent: int) -> tuple[Tensor, Tensor | None]:
    """Source indices (N, H, W, taps) along one axis, clamped to the border, and their PIL cubic weights; one tap
    with no weights when every sample point lies on a whole pixel (the unmoved axis of a shear or translation)."""
    position = _snapped(coordinate, extent, 0.5)  # pixel-index coordinates (pixel centres on whole numbers)
    start = position.floor()
    fraction = position - start
    if not fraction.any():
        return start.long().clamp_(0, extent - 1)[..., None], None
    offsets = torch.arange(-1, 3, device=coordinate.device)
    return (start.long()[..., None] + offsets).clamp_(0, extent - 1), _cubic_weights(fraction)


def _snapped(coordinate: Tensor, extent: int, shift: float) -> Tensor:
    """Pixel coordinates of normalized `coordinate` minus `shift`, with float32 noise around whole numbers removed."""
    position = (coordinate + 1) * (extent / 2) - shift
    rounded = position.round()
    return torch.where((position - rounded).abs() < 1e-3, rounded, position)


def pil_nearest(source: Tensor, grid: Tensor) -> Tensor:
    """PIL's nearest transform filter: the pixel holding the sample point (floor of its continuous coordinates)."""
    n, c, h, w = source.shape
    cols = _snapped(grid[..., 0], w, 0.0).floor().long().clamp_(0, w - 1)
    rows = _snapped(grid[..., 1], h, 0.0).floor().long().clamp_(0, h - 1)
    index = (rows * w + cols).flatten(1)
    return source.flatten(2).gather(2, index[:, None].expand(n, c, -1)).view(n, c, *grid.shape[1:3])


def pil_bicubic(source: Tensor, grid: Tensor) -> Tensor:
    """Sample float `source` (N, C, h, w) at `grid` (N, H, W, 2; normalized, align_corners=False) with PIL's
    bicubic transform filter: 4x4 taps, a = -1, neighbours clamped to the border (4 taps along one axis for the
    shears and translations, whose other axis stays on whole pixels)."""
    n, c, h, w = source.shape
    size = grid.shape[1:3]
    cols, weights_x = _cubic_taps(grid[..., 0], w)
    rows, weights_y = _cubic_taps(grid[..., 1], h)
    flat = source.flatten(2)
    out = torch.zeros(n, c, *size, device=source.device)
    for row in range(rows.shape[-1]):
        index = (rows[..., row, None] * w + cols).flatten(1)  # (N, H * W * column taps)
        values = flat.gather(2, index[:, None].expand(n, c, -1)).view(n, c, *size, cols.shape[-1])
        line = values[..., 0] if weights_x is None else (values * weights_x[:, None]).sum(-1)
        out += line if weights_y is None else line * weights_y[:, None, ..., row]
    return out


def affine(
    images: Tensor, theta: Tensor, interpolation: str | Tensor = "bicubic", fill: Sequence[float] | float = 128
) -> Tensor:
    """Resample each sample through its output -> input map `theta` (N, 2, 3) in normalized coordinates
    (align_corners=False, PIL's pixel centres), neighbours clamped to the border, `fill` where the source point
    lies outside the image, truncated back to uint8: PIL's `Image.transform`. `interpolation`: 'nearest',
    'bilinear', 'bicubic' (PIL's a = -1 kernel), or a bool tensor (N,) choosing bicubic (True) or bilinear per
    sample."""
    n, c, h, w = images.shape
    grid = F.affine_grid(theta.float(), [n, c, h, w], align_corners=False)
    source = images.float()
    if isinstance(interpolation, Tensor):
        bicubic = pil_bicubic(source, grid)
        bilinear = F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=False)
        out = torch.where(_column(interpolation), bicubic, bilinear)
    elif interpolation == "bicubic":
        out = pil_bicubic(source, grid)
    elif interpolation == "nearest":
        out = pil_nearest(source, grid)
    else:
        out = F.grid_sample(source, grid, mode=interpolation, padding_mode="border", align_corners=False)
    inside = ((grid >= -1) & (grid < 1)).all(dim=-1)[:, None]
    fill_t = torch.as_tensor(fill, dtype=torch.float32, device=images.device).reshape(1, -1, 1, 1)
    return torch.where(inside, out, fill_t).clamp_(0, 255).to(torch.uint8)  # truncated, as PIL's filters


def _theta(n: int, device: torch.device) -> Tensor:
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    return theta


def rotation_theta(degrees: Tensor, height: int, width: int) -> Tensor:
    """Counter-clockwise rotation about the image centre (PIL's `Image.rotate`)."""
    radians = torch.deg2rad(degrees.float())
    theta = _theta(len(degrees), degrees.device)
    theta[:, 0, 0], theta[:, 0, 1] = radians.cos(), -radians.sin() * height / width
    theta[:, 1, 0], theta[:, 1, 1] = radians.sin() * width / height, radians.cos()
    return theta


def shear_theta(factor: Tensor, height: int, width: int, axis: str) -> Tensor:
    """PIL's shear about the top-left corner: x_in = x + factor * y (axis 'x') or y_in = y + factor * x ('y')."""
    theta = _theta(len(factor), factor.device)
    if axis == "x":
        theta[:, 0, 1] = theta[:, 0, 2] = factor.float() * height / width
    else:
        theta[:, 1, 0] = theta[:, 1, 2] = factor.float() * width / height
    return theta


def translate_theta(fraction: Tensor, axis: str) -> Tensor:
    """Shift by `fraction` of the width ('x') or height ('y'): x_in = x + fraction * width."""
    theta = _theta(len(fraction), fraction.device)
    theta[:, 0 if axis == "x" else 1, 2] = 2 * fraction.float()
    return theta


def apply_op(name: str, images: Tensor, argument: Tensor, interpolation: str | Tensor, fill: Sequence[float]) -> Tensor:
    """Run operation `name` (the kernel behind timm's and torchvision's op names) with one argument per sample:
    rotation degrees, shear factor, translation fraction, enhance factor, posterize bits or solarize threshold."""
    h, w = images.shape[-2:]
    geometric = {
        "Rotate": lambda: rotation_theta(argument, h, w),
        "ShearX": lambda: shear_theta(argument, h, w, "x"),
        "ShearY": lambda: shear_theta(argument, h, w, "y"),
        "TranslateX": lambda: translate_theta(argument, "x"),
        "TranslateY": lambda: translate_theta(argument, "y"),
    }
    if name in geometric:
        return affine(images, geometric[name](), interpolation, fill)
    return PIXEL_OPS[name](images, argument)


PIXEL_OPS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "Identity": lambda images, _: images,
    "AutoContrast": autocontrast,
    "Equalize": equalize,
    "Invert": invert,
    "Posterize": posterize,
    "Solarize": solarize,
    "SolarizeAdd": solarize_add,
    "Color": color,
    "Contrast": contrast,
    "Brightness": brightness,
    "Sharpness": sharpness,
}
