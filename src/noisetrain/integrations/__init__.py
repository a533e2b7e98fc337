"""Bridges to other training frameworks; each needs its extra (``pip install noisetrain[lightning]``).

``noisetrain.integrations.lightning.NoiseCallback``: a recipe on a PyTorch Lightning ``LightningModule``.
"""
