"""Grid expansion: axes, literal lists, the baseline, seeds, hashing and de-duplication."""

import importlib

import pytest

from noisetrain.config import parse, validate
from noisetrain.registry import ConfigError
from noisetrain.study.config import StudyConfig
from noisetrain.study.grid import config_hash, expand

from studykit import study_config, tiny_study


def test_every_list_is_an_axis_and_runs_are_the_product() -> None:
    study = study_config(train={"epochs": 1, "optimizer": {"lr": [0.001, 0.01]}}, seeds=[0, 1, 2])
    runs = expand(study)
    # 2 learning rates x (baseline + 2 strengths) x 3 seeds
    assert len(runs) == 2 * 3 * 3
    assert {r.arm for r in runs} == {"baseline", "gaussian"}
    assert {r.factors["train.optimizer.lr"] for r in runs} == {0.001, 0.01}
    assert sorted({r.factors.get("noise.gaussian.std") for r in runs if r.arm == "gaussian"}) == [0.1, 0.3]
    assert {r.config.train.optimizer.lr for r in runs} == {0.001, 0.01}
    noisy = [r for r in runs if r.arm == "gaussian" and r.factors["noise.gaussian.std"] == 0.3]
    assert {r.seed for r in noisy} == {0, 2} | {1}
    assert all(r.config.noise == [{"kind": "gaussian", "std": 0.3}] for r in noisy)
    assert all(r.label == "gaussian std=0.3" for r in noisy)


def test_a_parameter_that_takes_a_list_takes_it_literally_and_a_list_of_lists_is_an_axis() -> None:
    study = study_config(
        model={"kind": "mlp", "widths": [[8], [16, 16]]},
        noise={"gaussian": [{"kind": "gaussian", "std": 0.1, "clip": [0, 1]}]},
        seeds=1,
    )
    runs = expand(study)
    assert len(runs) == 2 * 2
    assert {tuple(r.config.model["widths"]) for r in runs} == {(8,), (16, 16)}
    assert all(r.config.noise[0]["clip"] == [0, 1] for r in runs if r.arm == "gaussian")


def test_positions_and_schedules_are_axes_inside_an_arm() -> None:
    study = study_config(
        noise={
            "dropout": [{"kind": "dropout", "p": 0.2, "at": ["output:ReLU", "output:Linear"]}],
            "schedules": [{"kind": "gaussian", "std": [{"kind": "linear", "start": 0.3, "end": 0}, 0.2]}],
            "annealed": [{"kind": "gaussian", "std": {"kind": "linear", "start": [0.1, 0.4], "end": 0}}],
        },
        seeds=1,
    )
    runs = expand(study)
    labels = sorted(r.label for r in runs)
    assert "dropout at=output:ReLU" in labels and "dropout at=output:Linear" in labels
    schedules = [r.config.noise[0]["std"] for r in runs if r.arm == "schedules"]
    assert schedules == [{"kind": "linear", "start": 0.3, "end": 0}, 0.2]
    annealed = [r for r in runs if r.arm == "annealed"]
    assert [r.config.noise[0]["std"]["start"] for r in annealed] == [0.1, 0.4]
    assert annealed[0].label == "annealed start=0.1"
    assert {r.label for r in runs if r.arm == "schedules"} == {"schedules std=linear 0.3→0", "schedules std=0.2"}


def test_keys_hash_the_resolved_config_and_groups_ignore_the_seed() -> None:
    runs = expand(study_config())
    assert len({r.key for r in runs}) == len(runs)
    for r in runs:
        assert r.key == config_hash(r.config.model_dump(mode="json"))
        assert len(r.key) == 16 and int(r.key, 16) >= 0
    by_group: dict[str, set[int]] = {}
    for r in runs:
        by_group.setdefault(r.group, set()).add(r.seed)
    assert len(by_group) == 3 and all(seeds == {0, 1} for seeds in by_group.values())
    # defaults written out or left out give the same run
    explicit = expand(study_config(train={"epochs": 1, "batch_size": 64, "loss": "auto"}))
    assert [r.key for r in explicit] == [r.key for r in runs]


def test_the_same_run_in_two_arms_is_one_run_and_an_arm_of_repeats_only_is_refused() -> None:
    study = study_config(noise={"a": [{"kind": "gaussian", "std": [0.1, 0.2]}],
                                "b": [{"kind": "gaussian", "std": [0.2, 0.3]}]})  # fmt: skip
    runs = expand(study)
    assert len(runs) == 4 * 2  # baseline and three noisy configs, two seeds each: std 0.2 once, in arm a
    assert sorted((r.arm, r.factors.get("noise.gaussian.std")) for r in runs if r.seed == runs[0].seed) == [
        ("a", 0.1), ("a", 0.2), ("b", 0.3), ("baseline", None)]  # fmt: skip
    same = study_config(noise={"a": [{"kind": "gaussian", "std": 0.1}], "b": [{"kind": "gaussian", "std": 0.1}]})
    with pytest.raises(ConfigError, match=r"noise.b: every run of this arm is a run of arm 'a' \(the same "
                                          r"configuration\), so it would add nothing to the study"):  # fmt: skip
        expand(same)  # it vanished from validate, the run and the report without a word


def test_no_baseline_and_two_specs_of_one_kind_get_indexed_axis_names() -> None:
    study = study_config(
        baseline=False,
        noise={"twice": [{"kind": "gaussian", "std": [0.1, 0.2]}, {"kind": "gaussian", "std": 0.05, "at": "input"}]},
        seeds=1,
    )
    runs = expand(study)
    assert len(runs) == 2 and {r.arm for r in runs} == {"twice"}
    assert set(runs[0].factors) == {"noise.gaussian[0].std"}


@pytest.mark.parametrize("seeds", [3, [4, 7]])
def test_seeds_are_a_count_or_a_list(seeds: int | list[int]) -> None:
    runs = expand(study_config(seeds=seeds, noise={}))
    assert sorted(r.seed for r in runs) == (list(range(seeds)) if isinstance(seeds, int) else seeds)


def test_an_arm_may_change_training_and_its_axes_are_the_arms_own() -> None:
    attack = {"kind": "fgsm", "eps": [0.05, 0.1], "random_start": True}
    study = study_config(
        train={"epochs": 1, "optimizer": {"lr": 0.01}},
        noise={"adversarial": {"train": {"adversarial": {"attack": attack}}}},
        seeds=1,
    )
    runs = expand(study)
    adversarial = [r for r in runs if r.arm == "adversarial"]
    assert [r.config.train.adversarial.attack["eps"] for r in adversarial] == [0.05, 0.1]
    assert all(r.config.train.optimizer.lr == 0.01 and r.config.noise == [] for r in adversarial)
    assert adversarial[0].label == "adversarial eps=0.05"
    baseline = next(r for r in runs if r.arm == "baseline")
    assert baseline.config.train.adversarial is None


def test_equal_configs_spelled_differently_hash_alike() -> None:
    base = {"data": {"kind": "digits"}, "model": {"kind": "mlp", "widths": [16]}, "seed": 0}

    def key(noise: list) -> str:
        return config_hash(validate({**base, "noise": noise}).model_dump(mode="json"))

    # the default std, written out or not; an int or a float; a schedule's default end
    assert key([{"kind": "gaussian"}]) == key([{"kind": "gaussian", "std": 0.1, "clip": None}])
    assert key([{"kind": "gaussian", "std": 1}]) == key([{"kind": "gaussian", "std": 1.0}])
    cosine = {"kind": "cosine", "start": 0.3}
    assert key([{"kind": "gaussian", "std": cosine}]) == key([{"kind": "gaussian", "std": {**cosine, "end": 0}}])
    assert key([{"kind": "gaussian", "std": 0.2}]) != key([{"kind": "gaussian", "std": 0.1}])
    big = config_hash({**base, "seed": 2**53}), config_hash({**base, "seed": 2**53 + 1})
    assert big[0] != big[1]  # ints beyond a float's precision stay exact


def test_data_seed_run_keeps_one_group_per_configuration_across_seeds() -> None:
    runs = expand(study_config(data={"kind": "digits", "seed": "run"}))
    groups: dict[str, set[int]] = {}
    for r in runs:
        groups.setdefault(r.group, set()).add(r.seed)
        assert r.config.data["seed"] == "run" and r.config.data_spec()["seed"] == r.seed
    assert len(groups) == 3 and all(seeds == {0, 1} for seeds in groups.values())
    assert {r.key for r in runs}.isdisjoint(r.key for r in expand(study_config()))  # another data draw, other runs


def test_the_package_gives_the_function_expand_whatever_was_imported_before() -> None:
    grid = importlib.import_module("noisetrain.study.grid")  # its submodules are imported (the runner's are)
    importlib.import_module("noisetrain.study.runner")
    from noisetrain.study import RunSpec
    from noisetrain.study import expand as public

    assert public is grid.expand and RunSpec is grid.RunSpec


def test_a_grid_larger_than_max_runs_is_refused_before_it_is_expanded(monkeypatch) -> None:
    module = importlib.import_module("noisetrain.study.grid")

    study = study_config(seeds=1000, execution={"max_runs": 5000})  # 3 configurations x 1000 seeds = 3000 runs
    assert len(expand(study)) == 3000
    huge = study_config(seeds=1000, noise={"g": [{"kind": "gaussian", "std": [0.01 * i for i in range(1, 101)]}]},
                        execution={"max_runs": 100_000})  # fmt: skip
    huge = huge.model_copy(update={"train": {"epochs": 1, "batch_size": [16, 32, 64, 128]}})
    monkeypatch.setattr(module, "_validate", lambda *a: pytest.fail("expanded a grid it should refuse"))
    with pytest.raises(ConfigError, match=r"has 404,000 runs, more than execution.max_runs \(100,000\); shrink"):
        expand(huge)


def test_zipped_fields_vary_together_beside_the_crossed_axes() -> None:
    study = study_config(
        data={"kind": "function", "name": ["sphere", "rastrigin"], "dim": 2},
        model={"kind": "mlp", "widths": [8]},
        zip=[{"data.n_train": [20, 40, 80], "data.n_test": [10, 20, 40]}],
        noise={}, seeds=2,
    )  # fmt: skip
    runs = expand(study)
    assert len(runs) == 2 * 3 * 2  # functions x zipped sizes x seeds, not x 3 again
    sizes = {(r.config.data["n_train"], r.config.data["n_test"]) for r in runs}
    assert sizes == {(20, 10), (40, 20), (80, 40)}
    assert {r.context for r in runs if r.config.data["n_train"] == 40} == {
        "name=sphere, n_train=40, n_test=20", "name=rastrigin, n_train=40, n_test=20"}


def test_arms_change_the_model_and_the_data_with_axes_and_zipped_fields_of_their_own() -> None:
    study = study_config(
        data={"kind": "function", "name": "sphere", "dim": 2, "n_val": 10},
        model={"kind": "mlp", "widths": [8]},
        zip=[{"data.n_train": [20, 40], "noise.knn.data.n_train": [30, 50]}],
        noise={"knn": {"model": {"kind": "knn", "k": [1, 4]}, "data": {"n_val": 0}},
               "wide": {"model": {"widths": [[16], [32]]}}},
        seeds=1,
    )  # fmt: skip
    runs = expand(study)
    assert len(runs) == 2 * (1 + 2 + 2)
    knn = [r for r in runs if r.arm == "knn"]
    assert {(r.config.data["n_train"], r.config.data["n_val"], r.config.model["k"]) for r in knn} == {
        (30, 0, 1), (30, 0, 4), (50, 0, 1), (50, 0, 4)}
    assert all(r.config.model == {"kind": "knn", "k": r.config.model["k"]} for r in knn)  # replaced, not merged
    assert {r.label for r in knn if r.factors["data.n_train"] == 20} == {"knn n_train=30, k=1", "knn n_train=30, k=4"}
    wide = [r for r in runs if r.arm == "wide"]
    assert {tuple(r.config.model["widths"]) for r in wide} == {(16,), (32,)}  # merged: a list of lists is the axis
    assert all(r.config.data["n_val"] == 10 and r.config.model["kind"] == "mlp" for r in wide)
    base = [r for r in runs if r.arm == "baseline"]
    assert {r.config.data["n_train"] for r in base} == {20, 40} and all("noise.knn" not in str(r.factors) for r in base)


@pytest.mark.parametrize(
    ("zip_", "message"),
    [
        ({"data.n_train": [20, 40], "data.n_test": [10]}, r"zip\[0\]: the lists .*n_train: 2, data.n_test: 1"),
        ({"n_train": [20]}, r"zip\[0\]: 'n_train' must name a field as data.<field>"),
        ({"data.n_train": []}, r"zip\[0\].data.n_train must be a non-empty list"),
        ({"noise.nope.model.k": [1]}, r"zip: noise.nope.model.k names arm 'nope', which is not in noise"),
        ({"train.epochs": [1, 2]}, r"zip\[0\]: train.epochs is also a list in the study"),
    ],
)
def test_bad_zip_groups_are_refused_with_the_field_named(zip_: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        expand(study_config(data={"kind": "function"}, train={"epochs": [1, 2]}, zip=[zip_]))


def test_replicates_are_seeds_that_also_draw_the_data() -> None:
    replicated = tiny_study(data={"kind": "digits", "val_size": 0.2}, replicates=3, noise={})
    del replicated["seeds"]
    study = parse(StudyConfig, replicated)
    assert study.seeds == [0, 1, 2] and study.data["seed"] == "run"
    runs = expand(study)
    assert [r.config.data_spec()["seed"] for r in runs] == [0, 1, 2]
    assert parse(StudyConfig, study.model_dump(mode="json")) == study  # the stored study reads back
    with pytest.raises(ConfigError, match="replicates: give replicates or seeds, not both"):
        study_config(replicates=3, seeds=5)
    with pytest.raises(ConfigError, match=r"replicates: .* data.seed must be left out \(or run\), got 4"):
        study_config(data={"kind": "digits", "seed": 4}, replicates=2, seeds=[0, 1])
