"""Adversarial attacks shared by adversarial training and robustness evaluation.

Every attack is registered by kind in ``ATTACKS`` and built from ``{"kind": ..., **params}``;
``attack(model, x, y) -> x_adv`` runs it in eval mode, ``attack.perturb`` in the model's own mode.
"""

from .base import ATTACKS, Attack, ascent_direction, build_attack, project, random_start
from .fgsm import FGSM
from .pgd import PGD

__all__ = ["ATTACKS", "FGSM", "PGD", "Attack", "ascent_direction", "build_attack", "project", "random_start"]
