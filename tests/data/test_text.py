"""Synthetic topic classification: token layout, padding, seeds, splits, learnability, masking, errors."""

from __future__ import annotations

import pytest
import torch
from sklearn.linear_model import LogisticRegression

from noisetrain.data.dataset import DATASETS, Dataset
from noisetrain.data.text import MASK_ID, PAD_ID, SyntheticText
from noisetrain.registry import ConfigError


def all_tokens(data: Dataset) -> torch.Tensor:
    return torch.cat([data.train.x, data.val.x, data.test.x])


def test_shapes_dtypes_sizes_and_info() -> None:
    data = SyntheticText(num_samples=500, seq_len=16, vocab_size=100, num_classes=3, topic_words=5).load()
    assert (len(data.train), len(data.val), len(data.test)) == (360, 40, 100)
    assert data.train.x.shape == (360, 16) and data.train.x.dtype == torch.int64 and data.train.y.dtype == torch.int64
    assert data.num_classes == 3 and set(data.train.y.tolist()) == {0, 1, 2}
    assert data.info == {"vocab_size": 100, "pad_id": 0, "mask_id": 1, "topic_words": 5}
    tokens = all_tokens(data)
    assert int(tokens.min()) == PAD_ID and int(tokens.max()) < 100
    assert not bool((tokens == MASK_ID).any())  # the mask id is reserved for noise


def test_right_padding_and_lengths() -> None:
    tokens = all_tokens(SyntheticText(num_samples=400, seq_len=20).load())
    real = tokens != PAD_ID
    lengths = real.sum(1)
    assert int(lengths.min()) == 5 and int(lengths.max()) == 20  # uniform in [seq_len // 4, seq_len]
    assert torch.equal(real, torch.arange(20) < lengths[:, None])  # real tokens first, then padding


def test_pure_topics_reveal_the_label_through_the_vocabulary_layout() -> None:
    data = SyntheticText(num_samples=200, num_classes=4, topic_words=8, topic_rate=1.0, purity=1.0).load()
    for split in (data.train, data.test):
        real = split.x != PAD_ID
        owner = (split.x - 2) // 8  # topic words of class c are ids 2 + 8c .. 2 + 8c + 7
        assert torch.equal(owner[real], split.y[:, None].expand_as(split.x)[real])


def test_filler_words_are_shared_and_zipf_distributed() -> None:
    data = SyntheticText(num_samples=1000, topic_rate=0.01).load()
    tokens = all_tokens(data)
    filler = tokens[tokens >= 2 + 4 * 16]
    counts = torch.bincount(filler - 66, minlength=512 - 66).float()
    assert counts[0] / counts[1] == pytest.approx(2, rel=0.15)  # weight 1 / rank
    assert counts[0] / counts[9] == pytest.approx(10, rel=0.3)


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b, c = (SyntheticText(num_samples=100, seed=s).load() for s in (1, 1, 2))
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.train.x, c.train.x)


def test_train_size_subset_and_too_big() -> None:
    assert len(SyntheticText(num_samples=100, train_size=10).load().train) == 10
    with pytest.raises(ConfigError, match=r"train_size must be an integer in \[1, 72\]"):
        SyntheticText(num_samples=100, train_size=73).load()


def bag_of_words(tokens: torch.Tensor, vocab_size: int) -> torch.Tensor:
    counts = torch.zeros(len(tokens), vocab_size).scatter_add_(1, tokens, torch.ones(tokens.shape))
    return counts[:, 2:]  # drop pad and mask


def test_bag_of_words_logistic_regression_learns_it_and_masking_hurts() -> None:
    data = SyntheticText(num_samples=1500, seed=0).load()
    model = LogisticRegression(C=0.1, max_iter=300)
    model.fit(bag_of_words(data.train.x, 512).numpy(), data.train.y.numpy())
    clean = model.score(bag_of_words(data.test.x, 512).numpy(), data.test.y.numpy())
    assert clean > 0.75  # chance is 0.25
    hit = (torch.rand(data.test.x.shape, generator=torch.Generator().manual_seed(0)) < 0.6) & (data.test.x != PAD_ID)
    masked = torch.where(hit, MASK_ID, data.test.x)
    assert model.score(bag_of_words(masked, 512).numpy(), data.test.y.numpy()) < clean - 0.1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"vocab_size": 66}, r"vocab_size must exceed 2 \+ num_classes \* topic_words = 66"),
        ({"num_classes": 1}, r"num_classes must be in \[2, inf\)"),
        ({"topic_rate": 0.0}, r"topic_rate must be in \(0, 1\]"),
        ({"purity": 1.5}, r"purity must be in \[0, 1\]"),
        ({"seq_len": 0}, r"seq_len must be in \[1, inf\)"),
        ({"val_size": 1.0}, r"val_size must be in \[0, 1\)"),
        ({"num_samples": 10.5}, "num_samples must be an int"),
    ],
)
def test_bad_options_raise_config_errors(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DATASETS.build({"kind": "text", **options})
