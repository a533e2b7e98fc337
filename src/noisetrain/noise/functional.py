"""The pure tensor operations behind the injectors, in one namespace (like ``torch.nn.functional``).

Each takes explicit keyword arguments and a ``generator``; none keeps state.

Example:
    >>> import noisetrain.noise.functional as NF
    >>> x_noisy = NF.gaussian_noise(x, 0.1, generator=torch.Generator().manual_seed(0))
"""

from .activations import alpha_dropout, dropout, gaussian_dropout
from .gradients import gradient_noise
from .inputs import cutout, feature_mask, gaussian_noise, random_boxes, random_erasing, salt_and_pepper, uniform_noise
from .labels import flip_labels
from .mixing import cutmix, mixup, sample_beta, soft_targets
from .sequences import add_noise_snr, embedding_noise, speed_perturb, temporal_dropout, token_mask
from .weights import learnable_noise

__all__ = [
    "add_noise_snr",
    "alpha_dropout",
    "cutmix",
    "cutout",
    "dropout",
    "embedding_noise",
    "feature_mask",
    "flip_labels",
    "gaussian_dropout",
    "gaussian_noise",
    "gradient_noise",
    "learnable_noise",
    "mixup",
    "random_boxes",
    "random_erasing",
    "salt_and_pepper",
    "sample_beta",
    "soft_targets",
    "speed_perturb",
    "temporal_dropout",
    "token_mask",
    "uniform_noise",
]
