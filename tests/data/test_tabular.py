"""scikit-learn's bundled UCI sets: shapes, splits, scaling with training statistics, options, errors."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.datasets
import torch

from noisetrain.data import DATASETS, load_data
from noisetrain.data.tabular import Diabetes, Digits, SklearnTabular
from noisetrain.registry import ConfigError

# kind -> (samples, features, classes or None for regression)
SETS = {
    "digits": (1797, 64, 10),
    "iris": (150, 4, 3),
    "wine": (178, 13, 3),
    "breast_cancer": (569, 30, 2),
    "diabetes": (442, 10, None),
}


@pytest.mark.parametrize("kind", sorted(SETS))
def test_shapes_dtypes_and_sizes(kind: str) -> None:
    samples, features, classes = SETS[kind]
    data = load_data({"kind": kind, "val_size": 0.25, "test_size": 0.2, "seed": 3})
    test = round(0.2 * samples)
    val = round(0.25 * (samples - test))
    assert (len(data.train), len(data.val), len(data.test)) == (samples - test - val, val, test)
    assert data.name == kind and data.input_shape == (features,)
    assert data.train.x.dtype == torch.float32
    assert len(data.info["feature_names"]) == features
    if classes is None:
        assert data.task == "regression" and data.num_classes is None and data.num_outputs == 1
        assert data.train.y.dtype == torch.float32 and data.train.y.shape == (len(data.train),)
    else:
        assert data.task == "classification" and data.num_classes == classes
        assert data.train.y.dtype == torch.int64 and len(data.info["class_names"]) == classes
        assert set(torch.cat([data.train.y, data.val.y, data.test.y]).tolist()) == set(range(classes))


@pytest.mark.parametrize("kind", ["wine", "breast_cancer", "diabetes"])
def test_splits_are_disjoint_and_cover_the_data(kind: str) -> None:
    data = load_data({"kind": kind, "scale_target": "none"} if kind == "diabetes" else kind)
    offset, scale = torch.tensor(data.info["offset"]), torch.tensor(data.info["scale"])
    splits = (data.train, data.val, data.test)
    rows = torch.cat([torch.cat([s.x * scale + offset, s.y[:, None].float()], 1) for s in splits])
    bunch = getattr(sklearn.datasets, DATASETS.get(kind).loader)()
    raw = torch.cat([torch.as_tensor(bunch.data), torch.as_tensor(bunch.target)[:, None]], 1).float()
    # Each split row matches one raw row and no raw row twice: the splits are disjoint and cover the data.
    scale = raw.std(0)
    nearest = torch.cdist((rows / scale).double(), (raw / scale).double()).min(dim=1)
    assert float(nearest.values.max()) < 1e-3
    assert len(torch.unique(nearest.indices)) == len(raw) == len(rows)


def test_same_seed_same_splits_other_seed_other_splits() -> None:
    a, b, c = (load_data({"kind": "wine", "seed": s}) for s in (5, 5, 6))
    for name in ("train", "val", "test"):
        assert torch.equal(getattr(a, name).x, getattr(b, name).x)
        assert torch.equal(getattr(a, name).y, getattr(b, name).y)
    assert not torch.equal(a.test.y, c.test.y)


def test_standardisation_uses_training_statistics_only() -> None:
    data = load_data({"kind": "breast_cancer", "seed": 1})
    torch.testing.assert_close(data.train.x.mean(0), torch.zeros(30), atol=1e-5, rtol=0)
    torch.testing.assert_close(data.train.x.std(0), torch.ones(30), atol=1e-5, rtol=0)
    assert data.test.x.mean(0).abs().max() > 0.05  # the test split was scaled with other statistics
    assert data.info["scaling"] == "standard"
    raw_train = data.train.x * torch.tensor(data.info["scale"]) + torch.tensor(data.info["offset"])
    torch.testing.assert_close(raw_train.mean(0), torch.tensor(data.info["offset"]), rtol=1e-4, atol=1e-4)


def test_minmax_maps_training_features_to_the_unit_interval_and_val_test_alike() -> None:
    raw = load_data({"kind": "wine", "scale": "none", "seed": 1})
    data = load_data({"kind": "wine", "scale": "minmax", "seed": 1})
    assert raw.info["scaling"] == "none" and torch.equal(raw.train.y, data.train.y)
    assert data.train.x.amin(0).tolist() == [0.0] * 13 and data.train.x.amax(0).tolist() == [1.0] * 13
    low, high = raw.train.x.amin(0), raw.train.x.amax(0)
    assert data.info["offset"] == low.tolist()
    torch.testing.assert_close(torch.tensor(data.info["scale"]), high - low)
    for name in ("val", "test"):  # the training map; values outside [0, 1] allowed
        torch.testing.assert_close(getattr(data, name).x, (getattr(raw, name).x - low) / (high - low))
    outside = torch.cat([data.val.x, data.test.x])
    assert float(outside.min()) < 0 or float(outside.max()) > 1


def test_digits_images_are_unscaled_pixels_in_unit_range() -> None:
    data = Digits(images=True, seed=2).load()
    assert data.input_shape == (1, 8, 8) and data.train.x.dtype == torch.float32
    pixels = torch.cat([data.train.x, data.val.x, data.test.x])
    assert float(pixels.min()) == 0.0 and float(pixels.max()) == 1.0
    assert torch.equal(pixels * 16, (pixels * 16).round())  # counts 0..16 divided by 16, not standardised
    assert "scaling" not in data.info and "offset" not in data.info
    assert torch.equal(Digits(images=True, scale="none", seed=2).load().train.x, data.train.x)
    flat = Digits(seed=2).load()
    assert torch.equal(flat.train.y, data.train.y)  # the same split either way


def test_digits_features_stay_bounded_when_a_pixel_is_constant_in_training() -> None:
    for seed in range(3):
        data = load_data({"kind": "digits", "seed": seed})
        assert float(data.test.x.abs().max()) < 1e3


def test_diabetes_target_standardised_with_training_statistics() -> None:
    raw = Diabetes(scale_target="none", seed=4).load()
    scaled = Diabetes(seed=4).load()
    assert scaled.info["target_scaling"] == "standard"
    offset, scale = scaled.info["target_offset"], scaled.info["target_scale"]
    assert offset == pytest.approx(float(raw.train.y.mean())) and scale == pytest.approx(float(raw.train.y.std()))
    assert float(scaled.train.y.mean()) == pytest.approx(0, abs=1e-5)
    assert float(scaled.train.y.std()) == pytest.approx(1, abs=1e-5)
    torch.testing.assert_close(scaled.test.y * scale + offset, raw.test.y)
    assert raw.info["target_scale"] == 1.0 and float(raw.train.y.min()) >= 25  # progression scores 25..346
    assert torch.equal(raw.train.x, scaled.train.x)  # the features are scaled by their own option


def test_diabetes_target_minmax_with_training_range() -> None:
    raw = Diabetes(scale_target="none", seed=4).load()
    scaled = Diabetes(scale_target="minmax", scale="minmax", seed=4).load()
    low, high = float(raw.train.y.min()), float(raw.train.y.max())
    assert (scaled.info["target_offset"], scaled.info["target_scale"]) == (low, high - low)
    assert (float(scaled.train.y.min()), float(scaled.train.y.max())) == (0.0, 1.0)
    torch.testing.assert_close(scaled.test.y, (raw.test.y - low) / (high - low))
    assert scaled.info["scaling"] == "minmax" and float(scaled.train.x.max()) == 1.0


def test_train_size_takes_a_seeded_subset() -> None:
    full = load_data({"kind": "iris", "seed": 0})
    small = load_data({"kind": "iris", "seed": 0, "train_size": 20})
    assert len(small.train) == 20 and len(small.val) == len(full.val)
    with pytest.raises(ConfigError, match=r"train_size must be an integer in \[1, 96\]"):
        load_data({"kind": "iris", "train_size": 97})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"val_size": 1.0}, r"val_size must be in \[0, 1\)"),
        ({"val_size": -0.1}, r"val_size must be in \[0, 1\)"),
        ({"test_size": 1.5}, r"test_size must be in \[0, 1\)"),
        ({"train_size": 0}, r"train_size must be in \[1, inf\)"),
        ({"seed": -1}, r"seed must be in \[0, inf\)"),
        ({"images": "yes"}, r"images must be true or false"),
        ({"standardize": True}, r"has no parameter 'standardize'; accepted: images, scale, val_size"),
        ({"scale": "zscore"}, "scale must be one of 'standard', 'minmax', 'none'; got 'zscore'"),
        ({"scale": None}, "scale must be one of 'standard', 'minmax', 'none'; got None"),
        ({"images": True, "scale": "minmax"}, "scale 'minmax' does not apply to digits with images=True"),
    ],
)
def test_bad_options_raise_config_errors(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DATASETS.build({"kind": "digits", **options})


def test_every_set_is_a_thin_subclass_of_one_base() -> None:
    for kind in SETS:
        cls = DATASETS.get(kind)
        assert issubclass(cls, SklearnTabular) and cls.kind == kind
    with pytest.raises(ConfigError, match="scale_target must be one of 'standard', 'minmax', 'none'; got 1"):
        Diabetes(scale_target=1)  # type: ignore[arg-type]


def test_the_removed_standardize_target_option_is_refused_naming_the_new_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"no parameter 'standardize_target'.*accepted: scale, scale_target, val_size"
    ):
        DATASETS.build({"kind": "diabetes", "standardize_target": False})


def test_digits_read_from_scikit_learns_file_equal_load_digits():
    read, loaded = Digits().bunch(), sklearn.datasets.load_digits()
    assert np.array_equal(read.data, loaded.data) and read.data.dtype == loaded.data.dtype
    assert np.array_equal(read.target, loaded.target) and read.target.dtype == loaded.target.dtype
    assert list(read.feature_names) == list(loaded.feature_names)
    assert np.array_equal(read.target_names, loaded.target_names)
