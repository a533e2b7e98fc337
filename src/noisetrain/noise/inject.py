"""Attach injectors to a model by selector, and take them off again.

Selectors (where an injector acts):

=====================  ==========================================================
``"input"``            the model's input (a forward pre-hook on the model)
``"output:PATTERN"``   the output of every module matching PATTERN (forward hook)
``"weights:PATTERN"``  the weights (``injector.params``: ``weight``; ``weight`` and
                       ``bias`` for ``BayesianWeights``) of every module matching
                       PATTERN, and every parameter whose dotted name is one of its
                       globs verbatim, e.g. ``"weights:fc.kernel"``
``"params:PATTERN"``   every parameter whose dotted name matches one of the globs,
                       e.g. ``"params:*.kernel"``; acts as at ``weights``
``"batch"``            ``(x, y)`` batches, through ``handle.batch(x, y)``
``"gradients"``        the gradients before each optimiser step (``handle.bind(opt)``)
``"loss"``             loss settings such as label smoothing, through ``handle.loss``
=====================  ==========================================================

PATTERN is one or more ``|``-separated globs. Modules are matched by qualified name
(``features.3``) or class name (``BatchNorm2d``), the model itself included (by its class
name), e.g. ``"output:BatchNorm*"`` ("after every BatchNorm") or ``"weights:Linear|Conv2d"``.
Parameters are named as in ``model.named_parameters()`` (``fc.kernel``, ``0.weight``; a root
parameter has no dot), a parametrized one by its plain name; ``*`` also matches dots.

Weights and parameters go through ``torch.nn.utils.parametrize``: the clean tensor stays the
parameter the optimiser updates, and the noisy one is drawn once per forward pass of the model
(``Injector.hold``), so every use of it in that pass sees the same sample; each access outside a
forward pass draws anew. A parameter shared by several modules (tied weights) is one target: one
injector (one ``rho`` for ``BayesianWeights``, counted once by ``kl_divergence``) acts on every
use of it, whichever of its names or modules the selector matched.

``inject`` attaches a copy of each injector per target, with a seed derived from
the injector's seed and the target, so targets draw independent noise and the
objects you passed stay untouched; reach the attached copies through the handle.

Example:
    >>> handle = inject(model, [GaussianNoise(std=0.1), ("output:BatchNorm*", GaussianNoise(std=0.05))])
    >>> handle.remove()   # the model is exactly as before
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.hooks import RemovableHandle

from ..registry import ConfigError
from .base import Injector, build_noise, derive_seed

ATTR = "_noisetrain_injectors"
"""Entry of a module's ``__dict__`` holding ``{key: injector}`` for injectors placed by hook or on the
handle. Kept out of ``_modules`` so containers such as ``nn.Sequential`` never call them as layers."""

POSITIONS = ("input", "output", "weights", "params", "batch", "gradients", "loss")
_TARGETED = ("output", "weights", "params")
MODEL_POSITIONS = frozenset({"input", "output", "weights"})
_LISTED = 20
"""How many parameter names an error lists."""
_keys = itertools.count()

RecipeItem = Injector | Mapping[str, Any] | tuple[str, Injector | Mapping[str, Any]]
Recipe = RecipeItem | Sequence[RecipeItem]


@dataclass(frozen=True)
class Attachment:
    """One attached injector: its selector, what it acts on (a module's name, "" = the model; at weights the
    parameter's dotted name, a tied one's first), the injector."""

    selector: str
    target: str
    injector: Injector

    @property
    def position(self) -> str:
        """Where the injector acts: the selector's position, ``params`` placed as ``weights``."""
        return placement(self.selector.partition(":")[0])


def placement(position: str) -> str:
    """The placement of a selector position: ``params`` is placed as ``weights``, the others as themselves."""
    return "weights" if position == "params" else position


def parse_selector(selector: str, *, field: str = "at") -> tuple[str, str]:
    """Split ``"output:BatchNorm*"`` into ``("output", "BatchNorm*")``; errors list the positions."""
    if not isinstance(selector, str):
        raise ConfigError(f"{field} must be a selector string, got {selector!r}")
    position, _, pattern = selector.partition(":")
    if position not in POSITIONS:
        raise ConfigError(
            f"{field}: unknown position {position!r} in selector {selector!r}; allowed: input, "
            "output:PATTERN, weights:PATTERN, params:PATTERN, batch, gradients, loss"
        )
    if position in _TARGETED and not pattern:
        kind, example = ("parameter", "*.weight") if position == "params" else ("module", "Linear")
        raise ConfigError(f"{field}: selector {selector!r} needs a {kind} pattern, e.g. '{position}:{example}'")
    if position not in _TARGETED and pattern:
        raise ConfigError(f"{field}: selector {selector!r} takes no pattern; write {position!r}")
    return position, pattern


def model_modules(model: nn.Module, *, remove_duplicate: bool = True) -> list[tuple[str, nn.Module]]:
    """``model.named_modules()`` (the model itself as "") without injectors and parametrize's containers."""
    return [
        (name, module)
        for name, module in model.named_modules(remove_duplicate=remove_duplicate)
        if not isinstance(module, Injector) and "parametrizations" not in name.split(".")
    ]


def _module_matches(name: str, module: nn.Module, globs: list[str]) -> bool:
    return any(fnmatchcase(name, g) or fnmatchcase(class_name(module), g) for g in globs)


def matching_modules(model: nn.Module, pattern: str) -> list[tuple[str, nn.Module]]:
    """Modules, the model included, whose qualified name or class name matches one of the ``|``-separated globs."""
    globs = pattern.split("|")
    return [(name, module) for name, module in model_modules(model) if _module_matches(name, module, globs)]


def class_name(module: nn.Module) -> str:
    """The module's own class name (``Linear``, not parametrize's ``ParametrizedLinear``)."""
    return parametrize.type_before_parametrizations(module).__name__


@dataclass(frozen=True)
class Use:
    """One use of a parameter: ``module.<attr>``, reached as ``module_name`` ("" = the model)."""

    module_name: str
    module: nn.Module
    attr: str

    @property
    def name(self) -> str:
        """The dotted name, as in ``model.named_parameters()`` (a module's name where ``attr`` is "")."""
        return ".".join(part for part in (self.module_name, self.attr) if part)

    def source(self) -> torch.Tensor | nn.Module:
        """What this use reads: the parameter, or under a parametrization its original (shared by every use of a
        tied one), or the parametrization itself where it holds several originals (as ``weight_norm``'s g, v)."""
        if parametrize.is_parametrized(self.module, self.attr):
            chain = self.module.parametrizations[self.attr]
            return chain.original if chain.is_tensor else chain
        return self.module._parameters[self.attr]


def parameter_uses(model: nn.Module) -> list[Use]:
    """Every use of a parameter in ``model``: every module name (shared modules under each of theirs) times
    every parameter of that module, parametrized ones by their plain name, in model order."""
    return [
        Use(name, module, attr)
        for name, module in model_modules(model, remove_duplicate=False)
        for attr in [
            *(module.parametrizations if parametrize.is_parametrized(module) else ()),
            *(key for key, value in module._parameters.items() if value is not None),
        ]
    ]


def matching_parameters(model: nn.Module, position: str, pattern: str, params: Sequence[str]) -> list[list[Use]]:
    """The parameters a ``weights``/``params`` selector picks, each as the list of its uses (one module and
    attribute per use; several for a tied parameter), in model order.

    ``weights``: the attributes ``params`` of the modules matching PATTERN, and the parameters whose dotted
    name is one of its globs. ``params``: the parameters whose dotted name matches one of its globs.
    """
    globs = pattern.split("|")

    def picked(use: Use) -> bool:
        if position == "params":
            return any(fnmatchcase(use.name, g) for g in globs)
        return use.name in globs or (use.attr in params and _module_matches(use.module_name, use.module, globs))

    uses: dict[int, list[Use]] = {}  # by parameter; a module reached under two names is one use
    chosen: dict[int, None] = {}  # the picked parameters, in order
    for use in parameter_uses(model):
        same = uses.setdefault(id(use.source()), [])
        if not any(u.module is use.module and u.attr == use.attr for u in same):
            same.append(use)
        if picked(use):
            chosen.setdefault(id(use.source()))
    return [uses[key] for key in chosen]


def injectors_in(model: nn.Module) -> list[Injector]:
    """Every injector attached to ``model`` (by ``inject`` or as a submodule)."""
    found: list[Injector] = []
    for module in model.modules():
        if isinstance(module, Injector):
            found.append(module)
        found.extend(module.__dict__.get(ATTR, {}).values())
    return found


class NoiseHandle:
    """What ``inject`` returns: list, switch, schedule and remove the attached injectors.

    Also a context manager that removes them on exit.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.attachments: list[Attachment] = []
        self._removers: list[Any] = []
        self._bound: list[RemovableHandle] = []
        self.kl_weight = 0.0  # set by the training loop: 1 / the number of training examples
        self.kl_taken = False  # whether kl_term was called since the training loop last reset it

    def __iter__(self) -> Iterator[Attachment]:
        return iter(self.attachments)

    def __len__(self) -> int:
        return len(self.attachments)

    def injectors(self, position: str | None = None) -> list[Injector]:
        """Attached injectors, optionally only those at ``position`` (``"weights"`` includes ``params:``)."""
        return [a.injector for a in self.attachments if position is None or a.position == position]

    def parameters(self) -> Iterator[nn.Parameter]:
        """Learnable noise parameters of injectors placed outside the weights (add them to the optimiser).

        Injectors on weights are submodules of the model, so ``model.parameters()`` already has theirs.
        """
        for attachment in self.attachments:
            if attachment.position != "weights":
                yield from attachment.injector.parameters()

    def unoptimized(self, optimizers: Iterable[torch.optim.Optimizer]) -> list[nn.Parameter]:
        """The learnable noise parameters (of any injector) that none of ``optimizers`` updates: what a training
        loop that builds its optimizers elsewhere (Lightning, the Trainer) checks before it starts."""
        optimized = {id(p) for optimizer in optimizers for group in optimizer.param_groups for p in group["params"]}
        learnable = (p for injector in self.injectors() for p in injector.parameters() if p.requires_grad)
        return [p for p in learnable if id(p) not in optimized]

    def set_progress(self, progress: float) -> None:
        """Training progress in [0, 1] for every attached injector's schedules."""
        for injector in self.injectors():
            injector.set_progress(progress)

    def enable(self) -> None:
        for injector in self.injectors():
            injector.enabled_ = True

    def disable(self) -> None:
        for injector in self.injectors():
            injector.enabled_ = False

    def batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply the batch injectors (label noise, mixup, ...) in order; identity in eval mode."""
        for injector in self.injectors("batch"):
            injector.training = self.model.training
            x, y = injector(x, y)
        return x, y

    def loss(self, logits: torch.Tensor, target: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """Cross-entropy with hard or soft targets and the label smoothing of the loss injectors."""
        smoothing = 0.0
        for injector in self.injectors("loss"):  # at most one (checked by inject)
            injector.training = self.model.training
            smoothing = injector.current(injector.strength) if injector.active else 0.0
        return F.cross_entropy(logits, target, label_smoothing=smoothing, **kwargs)

    def kl_term(self) -> torch.Tensor | float:
        """What Bayesian weights add to the training loss: their KL term times ``kl_weight`` (``fit`` and the
        integrations set it to 1 / the number of training examples: the minibatch ELBO of Blundell et al. 2015,
        arXiv:1505.05424), in training mode; 0 when ``kl_weight`` is 0 or in eval mode."""
        self.kl_taken = True
        if not self.kl_weight or not self.model.training:
            return 0.0
        from .weights import kl_divergence  # weights builds on this module

        return kl_divergence(self.model) * self.kl_weight

    def state_dict(self) -> dict[str, Any]:
        """Every attached injector's state (learnable parameters, generator states, progress, counters),
        keyed by attachment index, for checkpoints; loads back into a handle built from the same recipe."""
        return {str(i): a.injector.state_dict() for i, a in enumerate(self.attachments)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if len(state) != len(self.attachments):
            raise ValueError(f"state has {len(state)} injectors, this handle has {len(self.attachments)}")
        for i, attachment in enumerate(self.attachments):
            attachment.injector.load_state_dict(state[str(i)])

    def bind(self, optimizer: torch.optim.Optimizer) -> None:
        """Apply the gradient injectors to ``optimizer``'s gradients before each of its steps."""
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"bind takes the torch.optim.Optimizer of the model, got {type(optimizer).__name__}")
        if self._bound:
            raise RuntimeError("this handle is already bound to an optimizer")
        if self.injectors("gradients"):
            self._bound.append(optimizer.register_step_pre_hook(lambda opt, *_: self.perturb_gradients(opt)))

    def perturb_gradients(self, optimizer: torch.optim.Optimizer) -> None:
        """Apply the gradient injectors to ``optimizer``'s gradients now (what ``bind`` does before each step): for
        loops whose ``optimizer.step(closure)`` computes the gradients after the step's pre-hooks (Lightning)."""
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        for injector in self.injectors("gradients"):
            injector.training = self.model.training
            injector(iter(parameters))

    def remove(self) -> None:
        """Detach every injector; the model is left exactly as before ``inject``. Idempotent."""
        for remove in reversed(self._removers):
            remove()
        for hook in self._bound:
            hook.remove()
        self._removers, self._bound, self.attachments = [], [], []

    def __enter__(self) -> NoiseHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        lines = [f"  {a.selector} @ {a.target or '<model>'}: {a.injector!r}" for a in self.attachments]
        return "NoiseHandle(\n" + "\n".join(lines) + "\n)" if lines else "NoiseHandle()"


class _InputHook:
    """Forward pre-hook: noise on the first positional input."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        injector = module.__dict__[ATTR][self.key]
        injector.training = module.training
        if not args:
            raise TypeError("noise at 'input' needs the model's input passed positionally")
        return (injector(args[0]), *args[1:])


class _OutputHook:
    """Forward hook: noise on the output (the first element when the output is a tuple)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        injector = module.__dict__[ATTR][self.key]
        injector.training = module.training
        injector.observe(args)
        if isinstance(output, torch.Tensor):
            return injector(output)
        if isinstance(output, tuple) and output and isinstance(output[0], torch.Tensor):
            return (injector(output[0]), *output[1:])
        raise TypeError(f"noise at the output of {type(module).__name__} needs a tensor output, got {type(output)}")


def recipe_items(recipe: Recipe) -> list[tuple[str | None, Injector | Mapping[str, Any]]]:
    """The recipe as a list of ``(selector or None, injector or spec without "at")``."""
    if isinstance(recipe, str) or not isinstance(recipe, (Injector, Mapping, Sequence)):
        example = f"{{'kind': {recipe!r}}}" if isinstance(recipe, str) else "{'kind': 'gaussian', 'std': 0.1}"
        raise ConfigError(f"recipe must be an injector, a spec such as {example}, or a list of them; got "
                          f"{type(recipe).__name__} {recipe!r}")  # fmt: skip
    single = isinstance(recipe, (Injector, Mapping)) or (
        isinstance(recipe, tuple) and len(recipe) == 2 and isinstance(recipe[0], str)
    )
    items: list[tuple[str | None, Any]] = []
    for item in [recipe] if single else recipe:  # type: ignore[list-item]
        if isinstance(item, tuple):
            items.append((item[0], item[1]))
        elif isinstance(item, Mapping):
            spec = dict(item)
            items.append((spec.pop("at", None), spec))
        else:
            items.append((None, item))
    return items


def _targets(model: nn.Module, position: str, pattern: str, injector: Injector, field: str) -> list[list[Use]]:
    """Where the injector acts, one list of uses per copy: the model (``Use("", model, "")``), each matched
    module, or each matched parameter with all its uses."""
    if position not in _TARGETED:
        return [[Use("", model, "")]]
    if position == "output":
        targets = [[Use(name, module, "")] for name, module in matching_modules(model, pattern)]
    else:
        targets = matching_parameters(model, position, pattern, injector.params)
    if not targets:
        types = ", ".join(sorted({class_name(m) for _, m in model_modules(model)}))
        if position == "output":
            raise ConfigError(f"{field}: selector '{position}:{pattern}' matched no module; module types here: {types}")
        names = list(dict.fromkeys(use.name for use in parameter_uses(model)))
        more = f", ... ({len(names) - _LISTED} more)" if len(names) > _LISTED else ""
        raise ConfigError(
            f"{field}: selector '{position}:{pattern}' matched no parameter; module types here: {types}; "
            f"parameters here: {', '.join(names[:_LISTED]) or 'none'}{more} (parameter globs: 'params:PATTERN')"
        )
    return targets


def inject(
    model: nn.Module, recipe: Recipe, *, optimizer: torch.optim.Optimizer | None = None, seed: int | None = None
) -> NoiseHandle:
    """Attach a recipe of injectors to ``model`` and return a handle that can remove them.

    Args:
        model: any ``nn.Module``.
        recipe: an injector, a spec ``{"kind": ..., "at": selector, **params}``, a pair
            ``(selector, injector or spec)``, or a list of these. Without a selector an
            injector goes to its class's ``default_at``.
        optimizer: bind the gradient injectors to it now (else call ``handle.bind`` later).
        seed: the seed of every item that has none of its own, derived per item (so a run's
            seed fixes all the noise, and adding an item leaves the others' streams alone).

    Every item is validated and every selector resolved before anything is attached.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"inject: model must be a torch.nn.Module, got {type(model).__name__}")
    plan = []
    for index, (selector, spec) in enumerate(recipe_items(recipe)):
        field = f"recipe[{index}]"
        injector = build_noise(spec, field=field)
        selector = selector or injector.default_at
        position, pattern = parse_selector(selector, field=f"{field}.at")
        if placement(position) not in injector.positions:
            raise ConfigError(
                f"{field}.at: {type(injector).__name__} cannot act at {placement(position)!r}; "
                f"allowed: {', '.join(sorted(injector.positions))}"
            )
        targets = _targets(model, position, pattern, injector, field)
        plan.append((index, selector, placement(position), injector, targets))
    if sum(position == "loss" for _, _, position, _, _ in plan) > 1:
        raise ConfigError("recipe: at most one injector may act at 'loss' (label smoothing is one setting of the loss)")

    copies = []  # one copy per target, prepared before anything is attached so that errors leave no trace
    for index, selector, position, template, targets in plan:
        base = template.seed if template.seed is not None else derive_seed(seed, f"recipe[{index}]")
        for uses in targets:
            first = uses[0]
            injector = copy.deepcopy(template)
            injector.reseed(derive_seed(base, f"{index}:{selector}@{first.module_name}.{first.attr}"))
            if position == "weights" and hasattr(injector, "prepare"):
                try:
                    injector.prepare(getattr(first.module, first.attr))
                except ConfigError as error:
                    raise ConfigError(f"recipe[{index}] at {first.name!r}: {error}") from None
            copies.append((selector, position, uses, injector))

    handle = NoiseHandle(model)
    try:  # parametrize evaluates each new parametrization on the weight it gets: one may refuse it
        for selector, position, uses, injector in copies:
            if position == "weights":
                for use in uses:
                    _attach_parametrization(handle, use.module, use.attr, injector)
            else:
                _attach_by_key(handle, uses[0].module, position, injector)
            handle.attachments.append(Attachment(selector, uses[0].name, injector))
    except Exception:
        handle.remove()  # the model as it was before this call
        raise
    _hold_per_pass(handle, model, [injector for _, position, _, injector in copies if position == "weights"])
    if optimizer is not None:
        handle.bind(optimizer)
    return handle


def _attach_by_key(handle: NoiseHandle, module: nn.Module, position: str, injector: Injector) -> None:
    key = f"{position}-{next(_keys)}"
    module.__dict__.setdefault(ATTR, {})[key] = injector
    if position == "input":
        hook: RemovableHandle | None = module.register_forward_pre_hook(_InputHook(key))
    elif position == "output":
        hook = module.register_forward_hook(_OutputHook(key))
    else:
        hook = None

    def remove() -> None:
        if hook is not None:
            hook.remove()
        attached = module.__dict__[ATTR]
        del attached[key]
        if not attached:
            del module.__dict__[ATTR]

    handle._removers.append(remove)


class _Pass:
    """Forward pre-hook and hook (``enter``, ``leave``) on the model: its weight injectors hold their draw
    for the whole outermost forward pass (``Injector.hold``)."""

    def __init__(self, injectors: list[Injector]) -> None:
        self.injectors = injectors
        self.depth = 0

    def enter(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self.depth += 1
        if self.depth == 1:
            for injector in self.injectors:
                injector.hold(True)

    def leave(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if self.depth == 0:  # the forward failed in an earlier pre-hook, before ``enter``
            return
        self.depth -= 1
        if self.depth == 0:
            for injector in self.injectors:
                injector.hold(False)


def _hold_per_pass(handle: NoiseHandle, model: nn.Module, injectors: list[Injector]) -> None:
    if not injectors:
        return
    one_pass = _Pass(injectors)
    enter = model.register_forward_pre_hook(one_pass.enter)
    leave = model.register_forward_hook(one_pass.leave, always_call=True)  # also when the forward raises

    def remove() -> None:
        enter.remove()
        leave.remove()

    handle._removers.append(remove)


def _attach_parametrization(handle: NoiseHandle, module: nn.Module, param: str, injector: Injector) -> None:
    injector.to(device=getattr(module, param).device)
    order = list(module._parameters)
    parametrize.register_parametrization(module, param, injector)
    chain = module.parametrizations[param]
    if len(chain) == 1:  # the first parametrization of this tensor: remember where it sat
        chain.__dict__["_noisetrain_order"] = order

    def remove() -> None:
        chain = module.parametrizations[param]
        if len(chain) == 1:
            order = chain.__dict__.get("_noisetrain_order", [])
            parametrize.remove_parametrizations(module, param, leave_parametrized=False)
            parameters = module._parameters
            module._parameters = {name: parameters[name] for name in order if name in parameters} | parameters
        else:
            del chain[next(i for i, p in enumerate(chain) if p is injector)]

    handle._removers.append(remove)


@contextmanager
def _switched(model: nn.Module, injector_flag: str, value: bool, dropout_training: bool) -> Iterator[nn.Module]:
    injectors = injectors_in(model)
    if injector_flag == "mc_":  # Monte-Carlo mode concerns the model's own noise, not batch or loss noise
        injectors = [i for i in injectors if i.positions & MODEL_POSITIONS]
    dropouts = [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    saved = [getattr(i, injector_flag) for i in injectors], [d.training for d in dropouts]
    try:
        for injector in injectors:
            setattr(injector, injector_flag, value)
        for dropout in dropouts:
            dropout.train(dropout_training)
        yield model
    finally:
        for injector, flag in zip(injectors, saved[0], strict=True):
            setattr(injector, injector_flag, flag)
        for dropout, training in zip(dropouts, saved[1], strict=True):
            dropout.train(training)


@contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode (BatchNorm on running statistics, noise off unless in MC mode); restore
    the ``training`` flag of every module and attached injector afterwards, even on errors."""
    modules = list({id(m): m for m in [*model.modules(), *injectors_in(model)]}.values())
    flags = [m.training for m in modules]
    model.eval()
    try:
        yield model
    finally:
        for module, flag in zip(modules, flags, strict=True):
            module.training = flag


def no_noise(model: nn.Module) -> Any:
    """Context manager: every injector on ``model`` and every torch dropout layer off.

    Example: ``with no_noise(model): clean_logits = model(x)``.
    """
    return _switched(model, "enabled_", False, dropout_training=False)


def mc_mode(model: nn.Module) -> Any:
    """Context manager: Monte-Carlo mode. Injectors and torch dropout layers stay stochastic in eval
    mode while BatchNorm keeps its running statistics (MC dropout, Gal & Ghahramani 2016, arXiv:1506.02142).

    Example: ``model.eval(); with mc_mode(model): probs = torch.stack([model(x).softmax(-1) for _ in range(20)])``.
    """
    return _switched(model, "mc_", True, dropout_training=True)
