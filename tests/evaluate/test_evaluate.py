"""``evaluate``: every bad name, value, data set or model output fails before any measure works, and each
measure reports its progress as monotone (done, total) counts that end at its total."""

import pickle

import pytest
import torch
from torch import nn

from noisetrain.data import Dataset, Split
from noisetrain.evaluate import MEASURES, check_measures, evaluate, get_measure
from noisetrain.evaluate.adversarial import adversarial
from noisetrain.registry import ConfigError

from testkit import toy_data


def images(n: int = 24) -> Dataset:
    """``n`` random 3x8x8 images in [0, 1] per split, two classes."""
    g = torch.Generator().manual_seed(0)
    splits = [Split(torch.rand(n, 3, 8, 8, generator=g), torch.arange(n) % 2) for _ in range(3)]
    return Dataset("images", "classification", *splits, num_classes=2)


class Counting(nn.Module):
    """A seeded Flatten-Linear model that counts its forward passes in ``calls``."""

    def __init__(self, inputs: int = 3 * 8 * 8, outputs: int = 2) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(inputs, outputs))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.net(x)


EARLIER = ["clean", {"kind": "corruptions", "corruptions": "contrast", "severities": 1}]


@pytest.mark.parametrize(
    ("later", "message"),
    [
        ({"kind": "adversarial", "eps": [0, -1]}, r"measures\[2\] \(adversarial\): eps must be in \[0, inf\), got -1"),
        ({"kind": "corruptions", "severities": [1, 6]}, r"measures\[2\] \(corruptions\): severities must be in \[1, 5"),
        ({"kind": "noise_sweep", "kinds": "mask", "strengths": [0, 1.5]}, r"strength for 'mask' must be in \[0, 1\]"),
        ({"kind": "noise_sweep", "clip": "sometimes"}, r"clip must be one of 'auto'"),
        ({"kind": "uncertainty", "corrupted": {"kind": "mask", "strength": 0.1, "clip": (1, 0)}}, "corrupted clip"),
        ({"kind": "adversarial", "bounds": (0.2, 0.5)}, "bounds .* do not contain the test inputs"),
        ({"kind": "cost", "baseline": [{"seconds": 1.0}]}, "baseline needs a history"),
        ({"kind": "flatness", "split": "dev"}, "split must be one of"),
    ],
)
def test_a_bad_value_in_a_later_measure_fails_before_any_forward_pass(later, message):
    model = Counting()
    with pytest.raises(ConfigError, match=message):
        evaluate(model, images(), [*EARLIER, later])
    assert model.calls == 0


def test_options_are_checked_without_data():
    plan = check_measures(["clean", {"kind": "adversarial", "eps": 0.1}, "clean"], {"seed": 1})
    labels = [(label, options["seed"]) for label, _, options in plan]
    assert labels == [("clean", 1), ("adversarial", 1), ("clean#2", 1)]
    assert plan[1][2]["eps"] == [0.1] and plan[1][2]["attacks"] == ["pgd"]
    with pytest.raises(ConfigError, match=r"measures\[1\] \(noise_sweep\): strengths given for \['mask'\]"):
        check_measures(["clean", {"kind": "noise_sweep", "strengths": {"mask": [0.1]}}], {})


def test_one_measure_may_stand_alone_and_none_is_refused():
    """``evaluate(model, data, "clean")`` is the clean measure, not the measures 'c', 'l', ... of its letters."""
    assert [label for label, _, _ in check_measures("clean", {})] == ["clean"]
    assert [label for label, _, _ in check_measures({"kind": "adversarial", "eps": 0.1}, {})] == ["adversarial"]
    with pytest.raises(ConfigError, match="measures: give at least one measure; known: adversarial"):
        check_measures([], {})


def test_a_wrongly_shaped_output_fails_on_the_one_probe():
    model = Counting(outputs=3)
    expected = r"model outputs of shape \(2, 3\) do not match 'images': its classification task expects logits"
    with pytest.raises(ConfigError, match=expected + r" of shape \(2, 2\)"):
        evaluate(model, images(), [*EARLIER, "adversarial"])
    assert model.calls == 1


def test_a_model_that_fails_on_the_inputs_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"the model fails on test inputs of shape \(2, 3, 8, 8\) from 'images'"):
        evaluate(Counting(inputs=5), images(), ["clean"])


def test_regression_outputs_are_n_or_n_by_one():
    data = toy_data(50, task="regression")
    assert {r.metric for r in evaluate(nn.Linear(8, 1), data)} == {"rmse", "mae", "abs_error_std"}
    model = Counting(inputs=8, outputs=3)
    with pytest.raises(ConfigError, match=r"regression task expects predictions of shape \(2,\) or \(2, 1\)"):
        evaluate(model, data, ["clean", "flatness"])
    assert model.calls == 1


def test_a_regression_data_set_for_a_classification_measure_fails_up_front():
    model = Counting(inputs=8, outputs=1)
    with pytest.raises(ConfigError, match=r"measures\[2\] \(adversarial\): adversarial needs a classification data"):
        evaluate(model, toy_data(50, task="regression"), ["clean", "flatness", "adversarial"])
    assert model.calls == 0


def test_tabular_data_for_corruptions_fails_up_front():
    model = Counting(inputs=8, outputs=3)
    with pytest.raises(ConfigError, match=r"measures\[1\] \(corruptions\): corruptions need image classification"):
        evaluate(model, toy_data(50), ["clean", "corruptions"])
    assert model.calls == 0


def test_a_direct_call_checks_the_same_declaration():
    with pytest.raises(ConfigError, match=r"eps must be in \[0, inf\), got -1"):
        adversarial(Counting(), images(), eps=[-1])
    with pytest.raises(ConfigError, match="unknown option 'epsilon'; accepted: batch_size, seed, attacks, eps"):
        adversarial(Counting(), images(), epsilon=0.1)
    records = adversarial(Counting(), images(), eps=0.05, steps=1)  # one radius, normalised to a list
    assert [r.setting["eps"] for r in records if r.metric == "accuracy"] == [0.0, 0.05]


@pytest.mark.parametrize("name", sorted(MEASURES))
def test_checked_options_are_checked_again_unchanged(name):
    measure = get_measure(name)
    data, model = images(), Counting()
    checked = measure.check({}, data, model)
    assert set(checked) == set(measure.defaults)
    assert measure.check(checked, data, model) == checked
    assert pickle.loads(pickle.dumps(measure)) is measure


PROGRESS = {
    "corruptions": {"corruptions": ["contrast", "gaussian_noise"], "severities": [1, 3], "baseline": Counting()},
    "adversarial": {"attacks": ["fgsm", "pgd"], "eps": [0.05, 0.1], "steps": 1},
    "noise_sweep": {"kinds": ["gaussian", "mask"], "strengths": [0, 0.1, 0.2]},
    "certified": {"n0": 10, "n": 20, "num_points": 8, "batch_size": 16},
    "flatness": {"rho": [0.01, 0.05], "samples": 2, "steps": 2, "iterations": 3, "num_samples": 16},
    "uncertainty": {"samples": 2, "batch_size": 8, "corrupted": {"kind": "gaussian", "strength": 0.1}},
    "calibration": {},
}
TOTALS = {"corruptions": 8, "adversarial": 7, "noise_sweep": 6, "certified": 15, "flatness": 13, "uncertainty": 6,
          "calibration": 3}  # fmt: skip


@pytest.mark.parametrize("name", sorted(PROGRESS))
def test_progress_counts_every_unit_up_to_the_total(name):
    calls = []
    evaluate(Counting(), images(), [{"kind": name, **PROGRESS[name]}], progress=lambda *call: calls.append(call))
    total = TOTALS[name]
    # corruptions: 2 x 2 pairs of the model and of the baseline; adversarial: clean, 2 x 2 curves, PGD at eps 0 and
    # at twice the steps; certified: ceil(8 * 10 / 16) + ceil(8 * 20 / 16) batches; flatness: loss, gradient,
    # 3 iterations, 2 x (2 draws + 2 steps); uncertainty: 3 batches, clean and noised
    assert calls == [(name, 0, 1)] + [(name, done, total) for done in range(total + 1)]


def test_measures_without_units_count_as_one_and_repeats_are_numbered():
    calls = []
    evaluate(Counting(), images(), ["clean", "cost", "clean"], progress=lambda *call: calls.append(call))
    assert calls == [("clean", 0, 1), ("clean", 1, 1), ("cost", 0, 1), ("cost", 1, 1),
                     ("clean#2", 0, 1), ("clean#2", 1, 1)]  # fmt: skip


def test_every_measure_declares_the_metrics_of_its_records():
    data, model = images(), Counting()
    history = [{"seconds": 1.0}, {"seconds": 2.0}]
    specs = [{"kind": name, **PROGRESS.get(name, {})} for name in sorted(MEASURES)]
    specs = [{**s, "history": history, "baseline": history} if s["kind"] == "cost" else s for s in specs]
    found: dict[str, set[str]] = {}
    for record in evaluate(model, data, specs):
        found.setdefault(record.measure, set()).add(record.metric)
    assert set(found) == set(MEASURES)
    for name, metrics in found.items():
        assert metrics <= set(MEASURES[name].metrics), name


def test_a_model_or_data_of_another_type_is_a_type_error_naming_both():
    with pytest.raises(TypeError, match=r"takes a torch.nn.Module and a noisetrain Dataset .*, got Linear and list"):
        evaluate(nn.Linear(2, 2), [1, 2], ["clean"])
