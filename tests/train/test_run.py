"""``train.run``: training settings that cannot work with the data or model are refused before anything is written."""

from pathlib import Path

import pytest

from noisetrain.registry import ConfigError
from noisetrain.train import run

FUNCTION = {"kind": "function", "name": "sphere", "n_train": 60, "n_val": 0, "n_test": 20}


@pytest.mark.parametrize(
    ("data", "train", "message"),
    [
        (FUNCTION, {"early_stopping": {"patience": 2}},
         "train.early_stopping monitors val_loss but data 'sphere' has no validation split"),
        ({**FUNCTION, "n_val": 10}, {"early_stopping": {"monitor": "val_accuracy"}},
         "train.early_stopping.monitor: 'val_accuracy' is not a regression metric; use one of val_loss, val_rmse"),
        ({"kind": "iris"}, {"loss": "l1"}, "train.loss 'l1' does not fit the classification data set 'iris'"),
    ],
)  # fmt: skip
def test_training_settings_that_cannot_work_are_refused_before_writing(
    tmp_path: Path, data: dict, train: dict, message: str
) -> None:
    config = {"data": data, "model": {"kind": "mlp", "widths": [4]}, "train": {"epochs": 2, **train}}
    with pytest.raises(ConfigError, match=message):
        run(config, output=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_closed_form_model_ignores_early_stopping_and_needs_no_validation_split() -> None:
    config = {"data": FUNCTION, "model": {"kind": "knn", "k": 3}, "train": {"epochs": 5, "early_stopping": {}}}
    result = run(config)
    assert result.train.status == "completed" and len(result.train.history) == 1
    assert result.test["test_rmse"] > 0


def test_a_model_that_cannot_take_the_inputs_is_refused_with_the_shapes() -> None:
    float_sequences = {"kind": "iris"}  # 4 float features; the text model takes token ids
    with pytest.raises(ConfigError, match=r"model TextClassifier cannot take the inputs of data 'iris' "
                                          r"\(float32 of shape \(4,\)\): "):  # fmt: skip
        run({"data": float_sequences, "model": {"kind": "text", "vocab_size": 2}})


def test_a_regressor_reports_its_test_mae_and_rmse_with_student_t_intervals(tmp_path: Path) -> None:
    """A regressor's test numbers came without an interval; they are the t intervals of the mean absolute and the
    mean squared error over the test targets (the RMSE's ends the MSE's square roots)."""
    import json

    import numpy as np
    from scipy import stats

    from noisetrain.train.metrics import target_scale

    config = {"data": {**FUNCTION, "n_test": 200, "seed": 3}, "model": {"kind": "knn", "k": 3}}
    result = run(config, output=tmp_path / "run")
    scale = target_scale(result.data)
    assert scale != 1  # the targets are standardised: the intervals are back in their units
    errors = (result.model(result.data.test.x) - result.data.test.y.reshape(-1, 1)).double().numpy().ravel() * scale

    def t_interval(values: np.ndarray) -> tuple[float, float]:
        return stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))

    mae_low, mae_high = t_interval(np.abs(errors))
    mse_low, mse_high = t_interval(errors**2)
    assert result.intervals["test_mae"] == pytest.approx((mae_low, mae_high), rel=1e-4)
    assert result.intervals["test_rmse"] == pytest.approx((mse_low**0.5, mse_high**0.5), rel=1e-4)
    assert mae_low < result.test["test_mae"] < mae_high and mse_low**0.5 < result.test["test_rmse"] < mse_high**0.5
    summary = json.loads((tmp_path / "run" / "result.json").read_text())
    assert summary["test_mae_ci"] == pytest.approx(list(result.intervals["test_mae"]))
    assert summary["test_rmse_ci"] == pytest.approx(list(result.intervals["test_rmse"])) and summary["n_test"] == 200
    assert "test_accuracy_ci" not in summary
