"""Common corruptions (Hendrycks & Dietterich 2019, arXiv:1903.12261) as batched tensor operations.

Importing this package registers all of them; apply one with ``corrupt(x, name, severity, generator=g)``.

Example:
    >>> x_c = corrupt(x, "gaussian_noise", 3, generator=torch.Generator().manual_seed(0))
"""

from . import blur, digital, noise, weather
from .base import CORRUPTIONS, Corruption, corrupt, corruption, names
from .digital import jpeg_roundtrip

__all__ = [
    "CORRUPTIONS",
    "Corruption",
    "blur",
    "corrupt",
    "corruption",
    "digital",
    "jpeg_roundtrip",
    "names",
    "noise",
    "weather",
]
