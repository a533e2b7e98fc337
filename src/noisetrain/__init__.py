"""noisetrain: noise-injection training and robustness evaluation for PyTorch."""

from . import noise
from .noise import *  # noqa: F403
from .noise import __all__ as _noise_all
from .registry import ConfigError, Registry

__version__ = "0.1.0"
__all__ = ["ConfigError", "Registry", "__version__", "noise", *_noise_all]
