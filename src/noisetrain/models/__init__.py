"""The model zoo: every model is a plain ``nn.Module`` registered by kind in ``MODELS``.

Build one from a spec with the data's shapes: ``build_model({"kind": "resnet20"}, input_shape=(3, 32, 32),
num_outputs=10)``; options named like keys of the data's ``info`` (``vocab_size``, ``pad_id``, ``task``)
are filled from it.
"""

from .base import ACTIVATIONS, MODELS, build_model
from .cnn import CNN32, LeNet
from .knn import KNN
from .mlp import MLP, Residual
from .recurrent import GRUNet, LSTMNet, RecurrentNet
from .resnet import BasicBlock, ResNet, ResNet18, ResNet20, ZeroPadShortcut
from .sequence import CNN1d, TextClassifier

__all__ = [
    "ACTIVATIONS",
    "CNN32",
    "KNN",
    "MLP",
    "MODELS",
    "BasicBlock",
    "CNN1d",
    "GRUNet",
    "LSTMNet",
    "LeNet",
    "RecurrentNet",
    "ResNet",
    "ResNet18",
    "ResNet20",
    "Residual",
    "TextClassifier",
    "ZeroPadShortcut",
    "build_model",
]
