"""noisetrain with Hugging Face Transformers: a noise recipe on a ``Trainer`` through ``NoiseCallback``.

Trains a tiny BERT, built from a config, on synthetic reviews ("the plot was great but slow ...": positive or
negative by their opinion words) with BERT-style token masking and NEFTune embedding noise, both taken from the
tokenizer so that [CLS], [SEP] and padding are never touched; then prints the test accuracy and the accuracy
when 30% of the words are masked.

Run: ``python examples/integrations/huggingface_text.py`` (seconds on a CPU, offline: the word-level tokenizer is
built here and nothing is downloaded; needs the ``huggingface`` extra: ``pip install noisetrain[huggingface]``).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    PreTrainedTokenizerFast,
    PrinterCallback,
    Trainer,
    TrainingArguments,
)

from noisetrain.integrations.huggingface import NoiseCallback
from noisetrain.noise.functional import token_mask
from noisetrain.noise.sequences import EmbeddingNoise, TokenMask

POSITIVE = "good great fine superb lovely clever".split()
NEGATIVE = "bad awful poor dull boring clumsy".split()
NEUTRAL = "the a film plot was is very and but quite story acting music slow long".split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer over the words above, wrapping each text as [CLS] words [SEP]."""
    vocab = {word: i for i, word in enumerate([*SPECIAL, *POSITIVE, *NEGATIVE, *NEUTRAL])}
    words = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    words.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=words, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]",
    )  # fmt: skip


def reviews(tokenizer: PreTrainedTokenizerFast, n: int, seed: int) -> list[dict]:
    """``n`` reviews of 6 to 12 words, two or three of them opinions; the label is the majority opinion."""
    g = torch.Generator().manual_seed(seed)

    def pick(words: list[str], k: int) -> list[str]:
        return [words[i] for i in torch.randint(0, len(words), (k,), generator=g).tolist()]

    rows = []
    for _ in range(n):
        label = int(torch.randint(0, 2, (1,), generator=g))
        majority, minority = (POSITIVE, NEGATIVE) if label else (NEGATIVE, POSITIVE)
        opinions = pick(majority, 2) + pick(minority, int(torch.randint(0, 2, (1,), generator=g)))
        words = pick(NEUTRAL, int(torch.randint(4, 10, (1,), generator=g))) + opinions
        order = torch.randperm(len(words), generator=g).tolist()
        rows.append({**tokenizer(" ".join(words[i] for i in order)), "labels": label})
    return rows


def accuracy(prediction) -> dict[str, float]:
    return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()

    tokenizer = build_tokenizer()
    train, test = reviews(tokenizer, 400, seed=0), reviews(tokenizer, 200, seed=1)
    torch.manual_seed(0)  # the initial weights
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=32, num_labels=2,
    )  # fmt: skip
    model = BertForSequenceClassification(config)

    recipe = [
        TokenMask.from_tokenizer(tokenizer, p=0.15),  # on input_ids; [CLS], [SEP] and padding never change
        # NEFTune on the word embeddings only, not at those tokens. The paper's alpha of 5 to 15 is for large
        # pretrained models; 0.2 gives noise of half this tiny model's initial embeddings (std 0.02)
        ("output:*word_embeddings", EmbeddingNoise.from_tokenizer(tokenizer, alpha=0.2)),
    ]
    settings = TrainingArguments(
        output_dir="runs/huggingface_text", num_train_epochs=args.epochs, per_device_train_batch_size=8,
        learning_rate=3e-3, seed=0, save_strategy="no", logging_strategy="no", report_to=[], use_cpu=True,
        disable_tqdm=True,
    )  # fmt: skip
    trainer = Trainer(
        model, settings, train_dataset=train, eval_dataset=test, processing_class=tokenizer,
        compute_metrics=accuracy, callbacks=[NoiseCallback(recipe)],
    )  # fmt: skip
    trainer.remove_callback(PrinterCallback)  # no log lines: the two results below are the output
    trainer.train()  # the noise is off again (and removed) once train returns

    masked = [dict(row) for row in test]
    special = list(tokenizer.all_special_ids)
    g = torch.Generator().manual_seed(0)
    for row in masked:
        ids = torch.tensor(row["input_ids"])
        masked_ids = token_mask(
            ids, 0.3, mask_id=tokenizer.mask_token_id, vocab_size=len(tokenizer), split=(1, 0, 0),
            protected=special, generator=g,
        )  # fmt: skip
        row["input_ids"] = masked_ids.tolist()
    print(f"accuracy {trainer.evaluate()['eval_accuracy']:.3f}")
    print(f"accuracy with 30% of the words masked {trainer.evaluate(masked)['eval_accuracy']:.3f}")


if __name__ == "__main__":
    main()
