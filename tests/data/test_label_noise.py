"""A fixed noisy copy of the labels (data.label_noise): realised rates, which splits, determinism, errors, and the
test split's identity in reports."""

from __future__ import annotations

import json

import pytest
import torch

from noisetrain.data import held_out_spec, load_data
from noisetrain.registry import ConfigError
from noisetrain.report.data import _test_set
from noisetrain.study.grid import expand

from studykit import study_config


def test_symmetric_flips_train_and_val_at_the_rate_and_keep_test_clean() -> None:
    clean = load_data({"kind": "digits", "seed": 3})
    noisy = load_data({"kind": "digits", "seed": 3, "label_noise": 0.4})
    for name in ("train", "val"):
        before, after = getattr(clean, name), getattr(noisy, name)
        assert torch.equal(before.x, after.x)
        flipped = after.y != before.y
        assert flipped.float().mean().item() == pytest.approx(0.4, abs=0.05)  # 1,006 and 252 labels
        assert noisy.info["label_noise"]["flipped"][name] == pytest.approx(flipped.float().mean().item())
        # each wrong label is another class, uniformly: every one of the 9 others is hit about equally often
        shift = (after.y[flipped] - before.y[flipped]) % 10
        if name == "train":
            counts = torch.bincount(shift, minlength=10)
            assert counts[0] == 0 and counts[1:].min() > 0.6 * counts[1:].float().mean()
    assert torch.equal(noisy.test.y, clean.test.y) and torch.equal(noisy.test.x, clean.test.x)
    assert noisy.info["label_noise"]["rate"] == 0.4 and noisy.info["label_noise"]["mode"] == "symmetric"


def test_asymmetric_moves_a_flipped_label_to_the_next_class() -> None:
    clean = load_data({"kind": "iris"})
    noisy = load_data({"kind": "iris", "label_noise": 0.3, "label_noise_mode": "asymmetric"})
    flipped = noisy.train.y != clean.train.y
    assert 0.15 < flipped.float().mean().item() < 0.45  # 90 training labels
    assert torch.equal(noisy.train.y[flipped], (clean.train.y[flipped] + 1) % 3)


def test_flips_follow_the_data_seed_and_nothing_else() -> None:
    def labels(**options) -> torch.Tensor:
        return load_data({"kind": "digits", "label_noise": 0.2, **options}).train.y

    assert torch.equal(labels(seed=1), labels(seed=1))
    assert not torch.equal(labels(seed=1, scale="none"), load_data({"kind": "digits", "seed": 1}).train.y)
    assert torch.equal(labels(seed=1, scale="none"), labels(seed=1))  # scaling leaves the labels alone
    seed_1, seed_2 = (load_data({"kind": "digits", "seed": s}) for s in (1, 2))
    flips_1 = labels(seed=1) != seed_1.train.y
    flips_2 = labels(seed=2) != seed_2.train.y
    assert flips_1.sum() > 0 and flips_2.sum() > 0 and not torch.equal(flips_1, flips_2)


def test_rate_zero_changes_nothing() -> None:
    clean, same = load_data({"kind": "iris"}), load_data({"kind": "iris", "label_noise": 0})
    assert torch.equal(clean.train.y, same.train.y) and torch.equal(clean.val.y, same.val.y)
    assert same.info["label_noise"]["flipped"] == {"train": 0.0, "val": 0.0}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "diabetes", "label_noise": 0.2},
         "data.label_noise: data 'diabetes' is regression, with no labels to flip; add target noise instead"),
        ({"kind": "iris", "label_noise": 1}, r"data.label_noise must be in \[0, 1\), got 1"),
        ({"kind": "iris", "label_noise": True}, r"data.label_noise must be a number in \[0, 1\), got True"),
        ({"kind": "iris", "label_noise_mode": "pairs"},
         "data.label_noise_mode must be one of 'symmetric', 'asymmetric'; got 'pairs'"),
        ({"kind": "iris", "label_nois": 0.1},
         r"has no parameter 'label_nois' \(did you mean 'label_noise'\?\); accepted: .*label_noise, label_noise_mode"),
    ],
)  # fmt: skip
def test_bad_label_noise_is_refused_naming_the_field(spec, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_data(spec)


def test_a_study_takes_label_noise_as_a_data_axis_and_checks_it_when_expanded() -> None:
    runs = expand(study_config(data={"kind": "iris", "label_noise": [0, 0.2, 0.4]}, seeds=1))
    assert sorted({r.config.data["label_noise"] for r in runs}) == [0, 0.2, 0.4]
    with pytest.raises(ConfigError, match=r"data.label_noise must be in \[0, 1\), got 1.5"):
        expand(study_config(data={"kind": "iris", "label_noise": 1.5}))


def test_the_test_split_identity_ignores_what_only_changes_training() -> None:
    spec = {"kind": "function", "name": "sphere", "n_train": 700, "n_test": 150, "scale": "minmax", "seed": 4}
    assert held_out_spec(spec) == {"kind": "function", "name": "sphere", "n_test": 150, "seed": 4}
    assert held_out_spec({"kind": "cifar10", "label_noise": 0.4, "val_size": 0.2}) == {"kind": "cifar10"}
    assert held_out_spec({"kind": "iris", "test_size": 0.3, "train_size": 20}) == {"kind": "iris", "test_size": 0.3}
    # the k-NN arm of the functions study, with its own training size, is tested on the network's test set
    network = {"seed": 2, "data": {**spec, "seed": "run", "n_val": 150}}
    knn = {"seed": 2, "data": {**spec, "seed": "run", "n_train": 850, "n_val": 0}}
    other_seed = {**knn, "seed": 3}
    assert _test_set(network) == _test_set(knn) != _test_set(other_seed)
    assert json.loads(_test_set(network))["seed"] == 2
