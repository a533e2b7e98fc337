import pytest

from noisetrain.registry import ConfigError, Registry, parameter_names


class Box:
    def __init__(self, size: float, *, color: str = "red") -> None:
        if size < 0:
            raise ValueError("size must be >= 0")
        self.size = size
        self.color = color


def make() -> Registry:
    registry: Registry = Registry("shape")
    registry.register("box")(Box)
    return registry


def test_build_and_names():
    registry = make()
    box = registry.build({"kind": "box", "size": 2, "color": "blue"})
    assert (box.size, box.color, Box.kind) == (2, "blue", "box")
    assert registry.names() == ["box"] and "box" in registry and list(registry) == ["box"]
    assert parameter_names(Box) == ["size", "color"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "ball"}, "unknown shape kind 'ball'; known kinds: box"),
        ({"size": 1}, "shape spec has no 'kind'; known kinds: box"),
        ({"kind": "box", "size": 1, "weight": 3}, "shape 'box' has no parameter 'weight'; accepted: size, color"),
        ({"kind": "box", "size": -1}, "shape 'box': size must be >= 0"),
        ({"kind": "box"}, r"shape 'box' needs 'size': set it in its spec, e\.g\. \{kind: box, size: \.\.\.\}"),
        (["box"], "must be a mapping"),
    ],
)
def test_errors_name_the_field(spec, message):
    with pytest.raises(ConfigError, match=message):
        make().build(spec)


def test_field_prefix():
    with pytest.raises(ConfigError, match=r"^study.noise\[2\]: unknown shape kind"):
        make().build({"kind": "ball"}, field="study.noise[2]")


def test_duplicate_registration_is_refused():
    registry = make()
    with pytest.raises(ValueError, match="already registered"):
        registry.register("box")(Box)


def test_complete_fills_only_accepted_missing_facts():
    registry = make()
    facts = {"size": 9, "color": "blue", "other": 1}
    assert registry.complete({"kind": "box"}, facts) == {"kind": "box", "size": 9, "color": "blue"}
    assert registry.complete({"kind": "box", "size": 2}, {**facts, "color": None}) == {"kind": "box", "size": 2}
    assert registry.complete({"kind": "crate"}, facts) == {"kind": "crate"}
    assert registry.complete({"kind": ["box"]}, facts) == {"kind": ["box"]}
