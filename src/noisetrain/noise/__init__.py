"""Noise injectors, schedules and their placement on models.

Every injector is registered by kind in ``NOISE`` and can be built from
``{"kind": ..., **params}``; ``noisetrain.noise.functional`` holds the pure ops.
"""

from . import functional
from .activations import AlphaDropout, Dropout, GaussianDropout
from .base import NOISE, Generators, Injector, build_noise
from .gradients import SGLD, GradientNoise
from .inject import Attachment, NoiseHandle, evaluation_mode, inject, injectors_in, mc_mode, no_noise
from .inputs import Cutout, FeatureMask, GaussianNoise, RandomErasing, SaltPepperNoise, UniformNoise
from .labels import LabelNoise, LabelSmoothing, TargetNoise
from .mixing import CutMix, Mixup
from .schedules import SCHEDULES, Anneal, Constant, Cosine, Exponential, Linear, Schedule, Step, Warmup, build_schedule
from .sequences import BackgroundNoise, EmbeddingNoise, SpeedPerturb, TemporalDropout, TokenMask
from .weights import BayesianWeights, DropConnect, LearnableNoise, WeightNoise, bayesian, kl_divergence

__all__ = [
    "NOISE",
    "SCHEDULES",
    "SGLD",
    "AlphaDropout",
    "Anneal",
    "Attachment",
    "BackgroundNoise",
    "BayesianWeights",
    "Constant",
    "Cosine",
    "CutMix",
    "Cutout",
    "DropConnect",
    "Dropout",
    "EmbeddingNoise",
    "Exponential",
    "FeatureMask",
    "GaussianDropout",
    "GaussianNoise",
    "Generators",
    "GradientNoise",
    "Injector",
    "LabelNoise",
    "LabelSmoothing",
    "LearnableNoise",
    "Linear",
    "Mixup",
    "NoiseHandle",
    "RandomErasing",
    "SaltPepperNoise",
    "Schedule",
    "SpeedPerturb",
    "Step",
    "TargetNoise",
    "TemporalDropout",
    "TokenMask",
    "UniformNoise",
    "Warmup",
    "WeightNoise",
    "bayesian",
    "build_noise",
    "build_schedule",
    "evaluation_mode",
    "functional",
    "inject",
    "injectors_in",
    "kl_divergence",
    "mc_mode",
    "no_noise",
]
