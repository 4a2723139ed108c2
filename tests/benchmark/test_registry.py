"""The generic registry and suite specs."""

from __future__ import annotations

import pytest

from benchmark.registry import Registry, UnknownNameError
from benchmark.suites import parse_suite


def test_registry_did_you_mean():
    reg = Registry("model")
    reg.register("coolant", object())
    reg.register("bert_resnet", object())
    with pytest.raises(UnknownNameError, match="Did you mean 'coolant'"):
        reg.get("coolnat")


def test_registry_lazy_entry_and_decorator():
    reg = Registry("thing")
    reg.register("path", "pathlib:Path")

    @reg.register("f")
    def f():
        return 1

    from pathlib import Path
    assert reg.get("path") is Path and reg.get("f") is f
    assert reg.names() == ["f", "path"]


def test_registry_refuses_two_different_objects_under_one_name():
    reg = Registry("model")
    reg.register("a", int)
    with pytest.raises(ValueError, match="twice"):
        reg.register("a", float)


def _spec(**kw):
    base = {"name": "t", "title": "T", "datasets": [{"id": "x", "synthetic": "synthetic-tiny"}],
            "rows": [{"label": "A", "model": "m"}, {"label": "B", "model": "m", "variant": "v"}]}
    base.update(kw)
    return base


def test_suite_spec_parses_and_validates_pairs():
    suite = parse_suite(_spec(pairs=[["A", "B"]]))
    assert suite.row("B").variant == "v" and suite.pairs == (("A", "B"),)
    with pytest.raises(ValueError, match="names a row"):
        parse_suite(_spec(pairs=[["A", "C"]]))


def test_suite_spec_errors_name_the_problem():
    with pytest.raises(ValueError, match="duplicate row labels"):
        parse_suite(_spec(rows=[{"label": "A", "model": "m"}, {"label": "A", "model": "n"}]))
    with pytest.raises(ValueError, match="kind"):
        parse_suite(_spec(kind="nonsense"))


def test_suite_equivalence_margin_in_points():
    assert parse_suite(_spec()).equivalence_margin == 2.0  # the stated default
    assert parse_suite(_spec(equivalence_margin=1.5)).equivalence_margin == 1.5
    for bad in (0, -1, "2", True, 150):
        with pytest.raises(ValueError, match="equivalence_margin must be a number of percentage points"):
            parse_suite(_spec(equivalence_margin=bad))


def test_every_shipped_suite_names_registered_models_and_variants():
    from benchmark.registry import DATASETS, MODELS, SUITES, load_plugins
    from benchmark.variants import get_variant
    load_plugins()
    for name in SUITES.names():
        suite = SUITES.get(name)
        for row in suite.rows:
            assert row.model in MODELS, f"{name}: row {row.label} names unknown model {row.model}"
            get_variant(row.model, row.variant)
        for slot in suite.datasets:
            for dataset in (*slot.real, slot.synthetic):
                assert dataset in DATASETS, f"{name}: slot {slot.id} names unknown dataset {dataset}"
