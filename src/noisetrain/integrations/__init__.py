"""Bridges to other training frameworks; each needs its extra (``pip install noisetrain[lightning]``).

``noisetrain.integrations.lightning.NoiseCallback``: a recipe on a PyTorch Lightning ``LightningModule``.
``noisetrain.integrations.huggingface.NoiseCallback``: a recipe on a Hugging Face ``transformers.Trainer``
(``pip install noisetrain[huggingface]``).
"""
