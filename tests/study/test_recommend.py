"""Recommendations per data type, and the study files they write validate and expand."""

import pytest
import yaml

from noisetrain.config import parse
from noisetrain.registry import ConfigError
from noisetrain.study.config import StudyConfig
from noisetrain.study.recommend import DATA_TYPES, comparisons, recommend, recommended_study, significance_seeds
from noisetrain.study.runner import plan
from noisetrain.study.stats import min_p

GUIDE = {
    "image": {"cutout", "mixup", "adversarial"},
    "text": {"token_mask", "dropout"},
    "tabular": {"gaussian", "feature_mask"},
    "timeseries": {"gaussian", "temporal_dropout"},
}


@pytest.mark.parametrize("data_type", DATA_TYPES)
def test_each_data_type_gets_the_guides_techniques_and_a_study_that_validates(data_type: str) -> None:
    techniques = recommend(data_type)
    assert GUIDE[data_type] <= {t.arm for t in techniques}
    assert any("+" in t.arm for t in techniques)  # at least one combination
    assert all(t.why and t.starting() for t in techniques)
    study = yaml.safe_load(yaml.safe_dump(recommended_study(data_type, seeds=2, epochs=1)))
    _, runs = plan(parse(StudyConfig, study))
    assert {r.arm for r in runs} == {"baseline", *(t.arm for t in techniques)}
    swept = [t for t in techniques if t.sweep is not None]
    expected = sum(len(t.sweep[2]) for t in swept) + len(techniques) - len(swept) + 1
    assert len(runs) == 2 * expected == 2 * (comparisons(data_type) + 1)  # recommend --write counts runs so


def test_the_combinations_of_the_guide_are_there() -> None:
    arms = {t.arm for data_type in DATA_TYPES for t in recommend(data_type)}
    assert {"mixup+label_smoothing", "adversarial+gaussian", "gaussian+dropout"} <= arms
    adversarial = next(t for t in recommend("image") if t.arm == "adversarial")
    assert "adversarial training (fgsm, eps=0.03137)" == adversarial.starting()
    spec = adversarial.arm_spec()
    assert spec["train"]["adversarial"]["attack"]["eps"] == [2 / 255, 4 / 255, 8 / 255]
    assert adversarial.arm_spec(grid=False)["train"]["adversarial"]["attack"]["eps"] == 8 / 255


def test_unknown_data_type() -> None:
    with pytest.raises(ConfigError, match="data type must be one of image, text, tabular, timeseries, got 'audio'"):
        recommend("audio")


@pytest.mark.parametrize(("data_type", "compared", "seeds"), [("image", 16, 10), ("text", 10, 9), ("tabular", 10, 9),
                                                             ("timeseries", 9, 9)])
def test_a_recommended_study_has_the_fewest_seeds_that_can_give_significance(data_type, compared, seeds) -> None:
    assert comparisons(data_type) == compared and significance_seeds(data_type) == seeds
    assert min_p(seeds) * compared < 0.05 <= min_p(seeds - 1) * compared  # Holm: the smallest p times m
    assert recommended_study(data_type)["seeds"] == seeds and recommended_study(data_type, seeds=4)["seeds"] == 4
    assert comparisons(data_type, grid=False) == len(recommend(data_type))
