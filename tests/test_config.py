import pytest
import torch

from noisetrain.config import RunConfig, apply_override, load_config, load_yaml, validate
from noisetrain.registry import ConfigError

BASE = {"data": "digits", "model": {"kind": "mlp", "widths": [32]}}


def test_defaults_and_bare_kind_names():
    config = validate(BASE)
    assert config.data == {"kind": "digits"} and config.train.optimizer.kind == "adam" and config.seed == 0
    assert validate(config) is config


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"train": {"epochs": 0}}, "train.epochs: Input should be greater than or equal to 1"),
        ({"train": {"optimizer": {"kind": "rmsprop"}}}, "train.optimizer.kind: Input should be 'sgd', 'adam', 'adamw'"),
        ({"train": {"lr": 0.1}}, "train.lr: Extra inputs are not permitted"),
        ({"train": {"batch_size": "big"}}, "train.batch_size: Input should be a valid integer"),
        ({"data": {"kind": "imagenet"}}, "unknown dataset kind 'imagenet'; known kinds: .*mnist"),
        ({"model": {"kind": "mlp", "input_shape": [3]}}, "may not set 'input_shape'"),
        ({"model": {"kind": "mlp", "depth": 3}}, "mlp' has no parameter 'depth'; accepted: .*widths"),
        ({"noise": [{"kind": "gaussian", "std": -1}]}, r"noise\[0\]: GaussianNoise.std must be in \[0, inf\)"),
        ({"noise": [{"kind": "gaussian", "at": "middle"}]}, r"noise\[0\].at: unknown position 'middle'"),
        ({"noise": [{"kind": "gausian"}]}, r"unknown noise kind 'gausian' \(did you mean 'gaussian'\?\); known kinds"),
        ({"train": {"lr_schedule": {"kind": "cosine", "start": -1}}}, "lr_schedule must be a schedule spec"),
        ({"train": {"adversarial": {"attack": {"kind": "pgd", "eps": -1}}}}, "eps"),
        ({"device": "gpu0"}, "device must be 'cpu', 'cuda'"),
        ({"seed": -1}, "seed: Input should be greater than or equal to 0"),
        ({"seed": True}, "^invalid config: seed: must be an integer, got true$"),  # pydantic alone: seed 1
        ({"train": {"optimizer": {"lr": False}}}, "train.optimizer.lr: must be a number, got false"),
        ({"train": {"grad_clip": True}}, "train.grad_clip: must be a number, got true"),
    ],
)
def test_errors_name_the_field(change, message):
    with pytest.raises(ConfigError, match=message):
        validate({**BASE, **change})


def test_all_errors_reported_at_once():
    with pytest.raises(ConfigError) as error:
        validate({**BASE, "seed": -1, "train": {"epochs": 0}})
    assert "seed:" in str(error.value) and "train.epochs:" in str(error.value)


def test_overrides_parse_yaml_values():
    raw = {"train": {"optimizer": {"lr": 0.1}}}
    apply_override(raw, "train.optimizer.lr=0.01")
    apply_override(raw, "noise=[{kind: gaussian, std: 0.2}]")
    apply_override(raw, "train.early_stopping.patience=3")
    assert raw == {
        "train": {"optimizer": {"lr": 0.01}, "early_stopping": {"patience": 3}},
        "noise": [{"kind": "gaussian", "std": 0.2}],
    }
    with pytest.raises(ConfigError, match=r"must look like key\.path=value"):
        apply_override(raw, "train.epochs")
    with pytest.raises(ConfigError, match=r"train\.optimizer\.lr is not a section"):
        apply_override(raw, "train.optimizer.lr.x=1")
    # a number indexes a list; a spec given by its kind takes fields (the help's own --set model=mlp, then more)
    apply_override(raw, "noise.0.std=0.3")
    apply_override(raw, "model=mlp")
    apply_override(raw, "model.widths=[8]")
    assert raw["noise"] == [{"kind": "gaussian", "std": 0.3}] and raw["model"] == {"kind": "mlp", "widths": [8]}
    with pytest.raises(ConfigError, match=r"^override 'noise\.2\.std=1': noise is a list of 1; index it with 0 to 0$"):
        apply_override(raw, "noise.2.std=1")


def test_load_config_from_yaml_with_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("data: digits\nmodel: {kind: mlp}\ntrain:\n  epochs: 2\n")
    config = load_config(path, overrides=["train.epochs=4", "seed=9"])
    assert isinstance(config, RunConfig) and config.train.epochs == 4 and config.seed == 9
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    path.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load_config(path)


def test_noise_parameters_from_the_data_may_be_left_out():
    config = validate({**BASE, "noise": [{"kind": "token_mask", "p": 0.1}, {"kind": "label_noise", "rate": 0.2}]})
    assert config.noise[0] == {"kind": "token_mask", "p": 0.1}
    with pytest.raises(ConfigError, match="has no parameter 'vocab'"):
        validate({**BASE, "noise": [{"kind": "token_mask", "vocab": 5}]})


def test_yaml_numbers_are_read_as_yaml_1_2_does(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("data: digits\nmodel: mlp\ntrain: {optimizer: {lr: 3e-4}}\n")
    config = load_config(path, overrides=["train.optimizer.weight_decay=1e-5"])
    assert config.train.optimizer.lr == 3e-4 and config.train.optimizer.weight_decay == 1e-5
    assert load_yaml("[._, 1.2.3, 1e, 1_000, .5, -1.5E+2]") == ["._", "1.2.3", "1e", 1000, 0.5, -150.0]


def test_data_seed_run_follows_the_run_seed(monkeypatch):
    from noisetrain.data import DATASETS
    from noisetrain.train import build

    config = validate({**BASE, "data": {"kind": "digits", "seed": "run"}, "seed": 3})
    assert config.data["seed"] == "run" and config.data_spec() == {"kind": "digits", "seed": 3}
    assert validate(BASE).data_spec() == {"kind": "digits"}
    specs = [{**BASE, "data": {"kind": "digits", "seed": s}, "seed": 3} for s in ("run", 3, 0)]
    tests = [build(validate(spec))[0].test.y for spec in specs]
    assert torch.equal(tests[0], tests[1]) and not torch.equal(tests[0], tests[2])  # run 3 draws data seed 3

    class Fixed:  # a data source with nothing to draw
        def __init__(self, *, size: int = 4) -> None:
            self.size = size

    monkeypatch.setitem(DATASETS._entries, "fixed", Fixed)
    with pytest.raises(ConfigError, match=r"data\.seed: data 'fixed' draws nothing at random; remove seed: run"):
        validate({**BASE, "data": {"kind": "fixed", "seed": "run"}})
    with pytest.raises(ConfigError, match="seed"):
        validate({**BASE, "data": {"kind": "digits", "seed": "each"}})


def test_every_bad_noise_entry_is_reported_not_only_the_first():
    noise = [{"kind": "gaussian", "std": -1}, {"kind": "uniform"}, {"kind": "dropout", "p": 2}, {"kind": "gausian"}]
    with pytest.raises(ConfigError) as error:
        validate({**BASE, "noise": noise})
    message = str(error.value)
    assert "noise[0]: GaussianNoise.std must be in [0, inf)" in message and "noise[2]: Dropout.p" in message
    assert "noise[3]: unknown noise kind 'gausian'" in message and "noise[1]" not in message
