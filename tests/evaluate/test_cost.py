import pytest
import torch
from torch import nn

from noisetrain.evaluate.cost import cost, flops_per_sample, parameter_counts, training_time
from noisetrain.registry import ConfigError

from testkit import tiny_cnn, tiny_mlp, toy_data


def test_parameter_counts_of_a_known_mlp():
    model = tiny_mlp()  # Linear(6, 16) + Linear(16, 3)
    assert parameter_counts(model) == (6 * 16 + 16 + 16 * 3 + 3,) * 2
    model[0].weight.requires_grad_(False)
    assert parameter_counts(model) == (16 + 16 * 3 + 3, 6 * 16 + 16 + 16 * 3 + 3)


def test_shared_parameters_count_once():
    layer = nn.Linear(4, 4)
    assert parameter_counts(nn.Sequential(layer, nn.ReLU(), layer)) == (20, 20)


def test_flops_of_a_linear_layer_are_two_per_multiply_add():
    assert flops_per_sample(nn.Linear(10, 7), torch.randn(5, 10)) == 2 * 10 * 7
    assert flops_per_sample(tiny_mlp(), torch.randn(3, 6)) == 2 * (6 * 16 + 16 * 3)
    conv = 2 * (3 * 9) * 4 * 25  # 3x3 kernel over 3 channels, 4 output channels, 5x5 positions
    assert flops_per_sample(tiny_cnn(), torch.randn(2, 3, 5, 5)) == conv + 2 * 100 * 3


def test_training_time_from_a_history():
    assert training_time([{"seconds": 1.0}, {"seconds": 3.0, "loss": 0.1}]) == (2.0, 4.0)


def test_measure_reports_parameters_flops_and_time_relative_to_a_baseline():
    model = tiny_mlp().train()
    history = [{"epoch": 1, "seconds": 2.0}, {"epoch": 2, "seconds": 4.0}]
    baseline = [{"seconds": 1.0}, {"seconds": 1.0}, {"seconds": 1.0}, {"seconds": 1.0}]
    records = cost(model, toy_data(50, features=6), history=history, baseline=baseline)
    values = {r.metric: r.value for r in records}
    assert values == {
        "parameters": 163.0, "trainable_parameters": 163.0, "flops_per_sample": 2 * (6 * 16 + 16 * 3),
        "seconds_per_epoch": 3.0, "seconds_total": 6.0, "relative_seconds_per_epoch": 3.0,
        "relative_seconds_total": 1.5,
    }  # fmt: skip
    assert model.training
    assert [r.metric for r in cost(model, toy_data(50, features=6))] == [
        "parameters", "trainable_parameters", "flops_per_sample"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("options", "field"),
    [({"history": []}, "history"), ({"history": [{"epoch": 1}]}, r"history\[0\]"),
     ({"history": [{"seconds": -1}]}, "history"), ({"baseline": [{"seconds": 1}]}, "baseline"),
     ({"history": [{"seconds": 1}], "baseline": [{"seconds": 0}]}, "baseline"), ({"batch_size": 0}, "batch_size")],
)  # fmt: skip
def test_bad_options_are_refused_by_name(options, field):
    with pytest.raises(ConfigError, match=field):
        cost(tiny_mlp(), toy_data(50, features=6), **options)
