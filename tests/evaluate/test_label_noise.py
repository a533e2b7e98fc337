import pytest

from noisetrain.evaluate.label_noise import label_noise_robustness
from noisetrain.registry import ConfigError

CONFIG = {"data": {"kind": "digits", "train_size": 400}, "model": {"kind": "mlp", "widths": [32]},
          "train": {"epochs": 6, "batch_size": 32, "optimizer": {"kind": "adam", "lr": 0.01}}}  # fmt: skip


def test_accuracy_falls_with_label_noise_and_flip_rates_match():
    records = label_noise_robustness(CONFIG, rates=(0.0, 0.6))
    accuracy = {r.setting["rate"]: r.value for r in records if r.metric == "accuracy"}
    flipped = {r.setting["rate"]: r.value for r in records if r.metric == "flipped_fraction"}
    assert accuracy[0.0] > 0.85 and accuracy[0.6] < accuracy[0.0] - 0.05
    assert flipped[0.0] == 0.0 and flipped[0.6] == pytest.approx(0.6, abs=0.07)


def test_bad_rates_and_data():
    with pytest.raises(ConfigError, match=r"rates must be in \[0, 1\)"):
        label_noise_robustness(CONFIG, rates=(1.0,))
    with pytest.raises(ConfigError, match=r"rates must be a number, got '0.2'"):  # iterated: "got '0'"
        label_noise_robustness(CONFIG, rates="0.2")
    with pytest.raises(ConfigError, match=r"rates must be a non-empty list"):
        label_noise_robustness(CONFIG, rates=[])
    with pytest.raises(ConfigError, match="mode must be one of"):
        label_noise_robustness(CONFIG, mode="uniform")
    with pytest.raises(ConfigError, match=r"data.label_noise: data 'diabetes' is regression"):
        label_noise_robustness({**CONFIG, "data": "diabetes"}, rates=(0.1,))
