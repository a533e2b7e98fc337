"""Snapshots of a model's full state, to check that injection leaves no trace."""

import torch
from torch import nn

from noisetrain.noise.inject import ATTR


def snapshot(model: nn.Module) -> tuple:
    state = model.state_dict()
    return (
        list(state),
        {k: v.clone() for k, v in state.items()},
        [(n, type(m)) for n, m in model.named_modules()],
        [(n, len(m._forward_hooks), len(m._forward_pre_hooks), ATTR in m.__dict__) for n, m in model.named_modules()],
    )


def same_snapshot(a: tuple, b: tuple) -> bool:
    return a[0] == b[0] and all(torch.equal(a[1][k], b[1][k]) for k in a[0]) and a[2] == b[2] and a[3] == b[3]
