"""Noise injectors, schedules and their placement on models."""

from .base import NOISE, Injector, build_noise
from .inject import Attachment, NoiseHandle, inject, injectors_in, mc_mode, no_noise
from .inputs import GaussianNoise, gaussian_noise
from .schedules import SCHEDULES, Anneal, Constant, Cosine, Exponential, Linear, Schedule, Step, Warmup, build_schedule

__all__ = [
    "NOISE",
    "SCHEDULES",
    "Anneal",
    "Attachment",
    "Constant",
    "Cosine",
    "Exponential",
    "GaussianNoise",
    "Injector",
    "Linear",
    "NoiseHandle",
    "Schedule",
    "Step",
    "Warmup",
    "build_noise",
    "build_schedule",
    "gaussian_noise",
    "inject",
    "injectors_in",
    "mc_mode",
    "no_noise",
]
