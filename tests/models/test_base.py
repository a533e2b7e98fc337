"""build_model: specs, context the caller supplies, options filled from the data's info, and errors."""

import pytest

from noisetrain.models import KNN, MLP, MODELS, TextClassifier, build_model
from noisetrain.registry import ConfigError


def test_registry_names():
    assert MODELS.names() == ["cnn1d", "cnn32", "gru", "knn", "lenet", "lstm", "mlp", "resnet18", "resnet20", "text"]


def test_bare_name_and_spec_build_the_same_model():
    model = build_model("mlp", input_shape=(2, 3), num_outputs=4)
    assert isinstance(model, MLP) and (model.input_shape, model.num_outputs, model.widths) == ((2, 3), 4, (256, 256))
    model = build_model({"kind": "mlp", "widths": [8], "dropout": 0.5}, input_shape=[6], num_outputs=2)
    assert (model.input_shape, model.widths, model.dropout) == ((6,), (8,), 0.5)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "vgg"}, "model: unknown model kind 'vgg'; known kinds: cnn1d, cnn32, gru, knn, lenet, lstm, mlp"),
        ({"kind": "mlp", "input_shape": (4,)}, "model: model spec may not set 'input_shape': the caller supplies it"),
        ({"kind": "mlp", "num_outputs": 3}, "model spec may not set 'num_outputs'"),
        (
            {"kind": "mlp", "activation": "swish"},
            "model: MLP.activation must be one of 'relu', 'tanh', 'gelu', 'silu', 'elu', 'leaky_relu', 'sigmoid'; "
            "got 'swish'",
        ),
        ({"kind": "mlp", "depth": 3}, "model 'mlp' has no parameter 'depth'; accepted: widths, activation"),
        ({"kind": "mlp", "dropout": 1.0}, r"MLP.dropout must be in \[0, 1\), got 1.0"),
        ({"kind": "mlp", "widths": [4, 0]}, r"MLP.widths must be a list of positive ints, got \[4, 0\]"),
        ({"kind": "mlp", "batchnorm": "yes"}, "MLP.batchnorm must be true or false"),
        ({"kind": "lenet"}, r"LeNet.input_shape must be a 3-D shape of positive ints, got \(8,\)"),
        ({"kind": "cnn1d", "kernel_size": 0}, r"CNN1d.kernel_size must be an int >= 1 or a list of them"),
        ({"kind": "cnn1d", "stride": [2, 2]}, r"CNN1d.stride must have one entry per width \(3\), got 2"),
        ({"kind": "mlp", "residual": "yes"}, "MLP.residual must be true or false"),
        ({"kind": "gru", "readout": "mean"}, "GRUNet.readout must be one of 'last', 'flatten'; got 'mean'"),
        ({"kind": "lstm", "layers": 0}, r"LSTMNet.layers must be in \[1, inf\), got 0"),
        ({"kind": "text"}, "TextClassifier.vocab_size is required: set it in the spec or the data's info"),
        ({"kind": "text", "vocab_size": 10, "encoder": "lstm"}, "TextClassifier.encoder must be one of 'gru', 'cnn'"),
        ({"kind": "text", "vocab_size": 10, "pad_id": 10}, r"TextClassifier.pad_id must be in \[0, 9\]"),
        ({"kind": "knn", "weights": "gaussian"}, "KNN.weights must be one of 'uniform', 'distance'"),
        ({"kind": "knn", "task": "ranking"}, "KNN.task must be one of 'classification', 'regression'"),
        ({"weights": 3}, "model spec has no 'kind'; known kinds: cnn1d"),
    ],
)
def test_errors_name_the_option_and_allowed_values(spec, message):
    with pytest.raises(ConfigError, match=message):
        build_model(spec, input_shape=(8,), num_outputs=3)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "resnet20", "shortcut": "C"}, "ResNet20.shortcut must be one of 'A', 'B'; got 'C'"),
        ({"kind": "resnet18", "width": 0}, r"ResNet18.width must be in \(0, inf\), got 0"),
        ({"kind": "cnn32", "widths": [4, 4, 4, 4]}, r"CNN32.input_shape needs height and width >= 16 for 4 stages"),
        ({"kind": "lenet"}, r"LeNet.input_shape needs height and width >= 12, got \(3, 8, 8\)"),
    ],
)
def test_errors_of_image_models(spec, message):
    with pytest.raises(ConfigError, match=message):
        build_model(spec, input_shape=(3, 8, 8), num_outputs=3)


def test_bad_shapes_from_the_data():
    with pytest.raises(ConfigError, match=r"MLP.num_outputs must be a positive int, got 0"):
        build_model("mlp", input_shape=(8,), num_outputs=0)
    with pytest.raises(ConfigError, match=r"MLP.input_shape must be a shape of positive ints, got \(8, 0\)"):
        build_model("mlp", input_shape=(8, 0), num_outputs=2)


def test_field_prefixes_errors():
    with pytest.raises(ConfigError, match=r"^runs\[2\].model: unknown model kind 'x'"):
        build_model("x", input_shape=(8,), num_outputs=3, field="runs[2].model")


def test_options_are_filled_from_info_unless_the_spec_sets_them():
    info = {"vocab_size": 30, "pad_id": 1, "mean": 0.5, "task": "regression", "input_shape": (99,)}
    model = build_model("text", input_shape=(12,), num_outputs=2, info=info)
    assert isinstance(model, TextClassifier)
    assert (model.vocab_size, model.pad_id, model.input_shape) == (30, 1, (12,))
    assert model.embedding.num_embeddings == 30 and model.embedding.padding_idx == 1
    model = build_model({"kind": "text", "vocab_size": 40}, input_shape=(12,), num_outputs=2, info=info)
    assert (model.vocab_size, model.pad_id) == (40, 1)
    knn = build_model("knn", input_shape=(4,), num_outputs=1, info=info)
    assert isinstance(knn, KNN) and knn.task == "regression"
    mlp = build_model("mlp", input_shape=(4,), num_outputs=1, info=info)  # no option of the MLP is in info
    assert mlp.input_shape == (4,)


def test_bad_info_value_is_reported():
    with pytest.raises(ConfigError, match=r"TextClassifier.vocab_size must be in \[2, inf\), got 1"):
        build_model("text", input_shape=(5,), num_outputs=2, info={"vocab_size": 1})
