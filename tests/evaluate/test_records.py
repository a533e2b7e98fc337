import pytest
import torch
from scipy.stats import binomtest
from torch import nn

from noisetrain.evaluate import Record, evaluate, evaluation_mode, parse_measures
from noisetrain.evaluate.records import accuracy_record, clopper_pearson, is_stochastic
from noisetrain.registry import ConfigError

from testkit import toy_data


@pytest.mark.parametrize(("k", "n"), [(0, 10), (10, 10), (37, 50), (500, 1000)])
def test_clopper_pearson_matches_scipy(k, n):
    expected = binomtest(k, n).proportion_ci(0.95, method="exact")
    assert clopper_pearson(k, n) == pytest.approx((expected.low, expected.high))


def test_accuracy_record_and_dict():
    record = accuracy_record("clean", 90, 100, {"split": "test"})
    assert record.value == 0.9 and record.ci[0] < 0.9 < record.ci[1] and record.n == 100
    assert record.to_dict() == {"measure": "clean", "metric": "accuracy", "value": 0.9, "setting": {"split": "test"},
                                "ci": list(record.ci), "n": 100}  # fmt: skip


def test_evaluation_mode_restores_every_flag():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Dropout(0.5))
    model.train()
    model[1].eval()
    with evaluation_mode(model):
        assert not any(m.training for m in model.modules())
    assert [m.training for m in model.modules()] == [True, True, False, True]
    with pytest.raises(RuntimeError), evaluation_mode(model):
        raise RuntimeError
    assert model[0].training


def test_is_stochastic():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    x = torch.randn(8, 4)
    assert is_stochastic(model.train(), x) and not is_stochastic(model.eval(), x)


def test_parse_measures():
    assert parse_measures("clean,corruptions:severities=1,3,adversarial:eps=0.03,0.1,steps=20,norm=l2") == [
        {"kind": "clean"},
        {"kind": "corruptions", "severities": [1, 3]},
        {"kind": "adversarial", "eps": [0.03, 0.1], "steps": 20, "norm": "l2"},
    ]
    with pytest.raises(ConfigError, match=r"unknown measure 'robustness'; known measures: .*adversarial"):
        parse_measures("clean,robustness")
    with pytest.raises(ConfigError, match="unknown measure 'foo'"):
        parse_measures("foo:x=1")
    with pytest.raises(ConfigError, match="adversarial: option 'eps' is given twice; give its values as one list"):
        parse_measures("adversarial:eps=0.1,eps=0.2")  # the second would silently replace the first
    with pytest.raises(ConfigError, match="clean: option 'kind' is given twice; the measure is named before the colon"):
        parse_measures("clean:kind=certified,n=10")  # it ran certified under the name clean
    with pytest.raises(ConfigError, match="clean is given twice with the same options"):
        parse_measures("clean,clean")
    assert len(parse_measures("adversarial:norm=l2,adversarial:norm=linf")) == 2  # other options: two measures


def test_evaluate_checks_names_and_options_before_any_work():
    model = nn.Linear(8, 3)
    data = toy_data()
    with pytest.raises(ConfigError, match=r"measures\[1\]: unknown measure 'accuracy'"):
        evaluate(model, data, ["clean", "accuracy"])
    with pytest.raises(ConfigError, match=r"measures\[0\] \(clean\): unknown option 'eps'; accepted: "):
        evaluate(model, data, [{"kind": "clean", "eps": 0.1}])
    with pytest.raises(ConfigError, match="setting 'temperature' is accepted by none of the measures"):
        evaluate(model, data, ["clean"], temperature=2.0)
    records = evaluate(model, data, ["clean"], batch_size=7)
    assert all(isinstance(r, Record) for r in records) and {r.measure for r in records} == {"clean"}


def test_parse_measures_takes_lists_and_mappings_whole():
    """Every comma split the text, so a mapping option (the noise sweep's strengths per kind) could not be given."""
    text = "noise_sweep:kinds=[gaussian, uniform],strengths={gaussian: [0.1, 0.2], uniform: [0.3]},clean"
    assert parse_measures(text) == [
        {"kind": "noise_sweep", "kinds": ["gaussian", "uniform"],
         "strengths": {"gaussian": [0.1, 0.2], "uniform": [0.3]}},
        {"kind": "clean"},
    ]
    assert parse_measures("adversarial:eps=[0, 0.1],0.2") == [{"kind": "adversarial", "eps": [0, 0.1, 0.2]}]
    with pytest.raises(ConfigError, match=r"measures: 'noise_sweep:strengths=\{gaussian: \[0.1\}': a '\}' at character "
                                          r"38 closes nothing"):  # fmt: skip
        parse_measures("noise_sweep:strengths={gaussian: [0.1}")
    with pytest.raises(ConfigError, match=r"a '\[' is never closed"):
        parse_measures("adversarial:eps=[0.1, 0.2")
