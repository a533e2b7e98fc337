import pytest
import torch

from noisetrain.data import Dataset, Split, load_data
from noisetrain.data.dataset import check_split_options, split_off, take, three_way
from noisetrain.registry import ConfigError


def numbered(n: int) -> Split:
    return Split(torch.arange(n, dtype=torch.float32)[:, None], torch.arange(n) % 3)


def ids(split: Split) -> set[int]:
    return {int(v) for v in split.x[:, 0]}


def test_batches_cover_every_sample_once_in_a_seeded_order():
    split = numbered(10)
    seen = [int(v) for x, _ in split.batches(3, generator=torch.Generator().manual_seed(0)) for v in x[:, 0]]
    assert sorted(seen) == list(range(10)) and seen != list(range(10))
    again = [int(v) for x, _ in split.batches(3, generator=torch.Generator().manual_seed(0)) for v in x[:, 0]]
    assert again == seen
    assert [len(x) for x, _ in split.batches(3, generator=torch.Generator(), drop_last=True)] == [3, 3, 3]
    ordered = [x[:, 0].tolist() for x, _ in split.batches(4, shuffle=False)]
    assert ordered == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_split_sizes_and_disjointness():
    full = numbered(100)
    rest, part = split_off(full, 0.2, seed=1)
    assert len(part) == 20 and len(rest) == 80 and not ids(part) & ids(rest)
    train, val, test = three_way(full, test_size=0.2, val_size=0.25, train_size=30, seed=2)
    assert (len(train), len(val), len(test)) == (30, 20, 20)
    assert not (ids(train) & ids(val) or ids(train) & ids(test) or ids(val) & ids(test))
    assert ids(take(full, 10, seed=3)) == ids(take(full, 10, seed=3)) != ids(take(full, 10, seed=4))
    with pytest.raises(ConfigError, match=r"train_size must be an integer in \[1, 100\]"):
        take(full, 101, seed=0)
    with pytest.raises(ConfigError, match=r"val_size must be in \[0, 1\)"):
        split_off(full, 1.0, seed=0)


def test_dataset_checks_its_splits():
    ok = numbered(6)
    data = Dataset("d", "classification", ok, ok, ok, num_classes=3)
    assert data.input_shape == (1,) and data.num_outputs == 3
    bad_x = Split(torch.tensor([[float("nan")], [1.0]]), torch.tensor([0, 1]))
    with pytest.raises(ConfigError, match="dataset 'd', val split: 1 features are NaN or inf"):
        Dataset("d", "classification", ok, bad_x, ok, num_classes=3)
    with pytest.raises(ConfigError, match=r"train split: labels must lie in \[0, 1\], found 0..2"):
        Dataset("d", "classification", ok, ok, ok, num_classes=2)
    with pytest.raises(ConfigError, match="task must be 'classification' or 'regression'"):
        Dataset("d", "ranking", ok, ok, ok)
    regression = Split(torch.zeros(4, 2), torch.zeros(4, 3))
    assert Dataset("r", "regression", regression, regression, regression).num_outputs == 3
    with pytest.raises(ConfigError, match="3 inputs but 2 targets"):
        Split(torch.zeros(3, 1), torch.zeros(2))


def test_split_options_and_load_by_name():
    with pytest.raises(ConfigError, match="test_size"):
        check_split_options(val_size=0.1, test_size=1.5, train_size=None, seed=0)
    with pytest.raises(ConfigError, match="seed"):
        check_split_options(val_size=0.1, test_size=None, train_size=None, seed=-1)
    assert load_data("iris").name == "iris"
