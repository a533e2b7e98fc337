"""A synthetic topic-classification task on token sequences, generated offline.

Each sequence belongs to one of ``num_classes`` topics. Every class owns
``topic_words`` words of the vocabulary; the rest are filler words shared by all
classes, drawn with Zipf frequencies (weight 1/rank), as in natural text. A token
is a topic word with probability ``topic_rate``; a topic word comes from the
sequence's own class with probability ``purity`` and otherwise from a class drawn
uniformly (possibly its own). So the label shows in how often each class's topic
words occur, a handful of tokens in a sequence: an embedding with a GRU or a CNN
learns it, a bag-of-words logistic regression reaches about 85% at the defaults
(chance 25%), and masking tokens (token dropout, word dropout: Iyyer et al. 2015,
"Deep Unordered Composition Rivals Syntactic Methods for Text Classification";
Gal & Ghahramani 2016, arXiv:1512.05287) hides some of the evidence.

Vocabulary layout: id 0 pads, id 1 is the mask token (never generated), ids
``2 .. 2 + num_classes * topic_words - 1`` are the topic words of class 0, 1, …
in blocks, the remaining ids up to ``vocab_size - 1`` are filler. Sequences have
lengths drawn uniformly from ``[max(1, seq_len // 4), seq_len]`` and are padded
with 0 on the right.
"""

from __future__ import annotations

import torch

from ..checks import check_int, check_range
from ..registry import ConfigError
from .dataset import DATASETS, Dataset, Split, check_split_options, three_way

PAD_ID = 0
MASK_ID = 1
FIRST_WORD = 2
"""The first id of a real word."""


@DATASETS.register("text")
class SyntheticText:
    """Synthetic topic classification of padded token-id sequences.

    Inputs are int64 (N, seq_len) token ids, labels int64 (N,). ``info`` holds
    ``vocab_size``, ``pad_id`` (0), ``mask_id`` (1) and ``topic_words``.

    Args:
        num_samples: sequences in all (split into train/val/test); default 2000.
        seq_len: padded length L (>= 1); default 32.
        vocab_size: number of ids including pad and mask; default 512.
        num_classes: number of topics (>= 2); default 4.
        topic_words: topic words owned by each class (>= 1); default 16.
            ``2 + num_classes * topic_words`` must be below ``vocab_size`` (some filler remains).
        topic_rate: probability that a token is a topic word, in (0, 1]; default 0.25.
        purity: probability that a topic word is of the sequence's own class, in [0, 1]; default 0.6.
        val_size: fraction of the non-test samples held out for validation, in [0, 1); default 0.1.
        test_size: fraction of all samples held out for testing, in [0, 1); default 0.2.
        train_size: number of training samples to keep (a random subset), or None for all.
        seed: seed of the generator and the splits.

    Example: ``SyntheticText(num_samples=500, seq_len=16).load().train.x.shape == (360, 16)``.
    """

    train_only = frozenset({"val_size", "train_size"})
    """Options that change the training and validation splits but not the test split."""

    def __init__(
        self,
        *,
        num_samples: int = 2000,
        seq_len: int = 32,
        vocab_size: int = 512,
        num_classes: int = 4,
        topic_words: int = 16,
        topic_rate: float = 0.25,
        purity: float = 0.6,
        val_size: float = 0.1,
        test_size: float = 0.2,
        train_size: int | None = None,
        seed: int = 0,
    ):
        check_int("num_samples", num_samples, 2)
        check_int("seq_len", seq_len, 1)
        check_int("num_classes", num_classes, 2)
        check_int("topic_words", topic_words, 1)
        check_int("vocab_size", vocab_size, FIRST_WORD + 1)
        if FIRST_WORD + num_classes * topic_words >= vocab_size:
            raise ConfigError(
                f"vocab_size must exceed 2 + num_classes * topic_words = {FIRST_WORD + num_classes * topic_words} "
                f"(pad, mask and topic ids, plus at least one filler word), got {vocab_size}"
            )
        check_range("topic_rate", topic_rate, 0, 1, low_open=True)
        check_range("purity", purity, 0, 1)
        check_split_options(val_size=val_size, test_size=test_size, train_size=train_size, seed=seed)
        self.num_samples = num_samples
        self.seq_len = seq_len
        self.vocab_size = vocab_size
        self.num_classes = num_classes
        self.topic_words = topic_words
        self.topic_rate = topic_rate
        self.purity = purity
        self.val_size = val_size
        self.test_size = test_size
        self.train_size = train_size
        self.seed = seed

    def load(self) -> Dataset:
        n, length, classes = self.num_samples, self.seq_len, self.num_classes
        g = torch.Generator().manual_seed(self.seed)
        labels = torch.randint(classes, (n,), generator=g)
        lengths = torch.randint(max(1, length // 4), length + 1, (n,), generator=g)
        # Topic words: of the own class with probability purity, else of a uniformly drawn class.
        own = torch.rand(n, length, generator=g) < self.purity
        topic_class = torch.where(own, labels[:, None], torch.randint(classes, (n, length), generator=g))
        topic = FIRST_WORD + topic_class * self.topic_words + torch.randint(self.topic_words, (n, length), generator=g)
        # Filler words with Zipf frequencies.
        first_filler = FIRST_WORD + classes * self.topic_words
        zipf = 1 / torch.arange(1, self.vocab_size - first_filler + 1, dtype=torch.float64)
        filler = first_filler + torch.multinomial(zipf, n * length, replacement=True, generator=g).view(n, length)
        tokens = torch.where(torch.rand(n, length, generator=g) < self.topic_rate, topic, filler)
        tokens[torch.arange(length) >= lengths[:, None]] = PAD_ID

        full = Split(tokens, labels)
        train, val, test = three_way(
            full, test_size=self.test_size, val_size=self.val_size, train_size=self.train_size, seed=self.seed
        )
        info = {"vocab_size": self.vocab_size, "pad_id": PAD_ID, "mask_id": MASK_ID, "topic_words": self.topic_words}
        return Dataset("text", "classification", train, val, test, num_classes=classes, info=info)
