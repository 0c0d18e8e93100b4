"""lit-vision: a PyTorch Lightning research template for modern vision architectures."""

__version__ = "0.1.0"
