"""Sweep specs: TOML round trip, grids, fingerprints, and one-line SpecErrors that name the key."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from pydantic import ValidationError

from conftest import TINY, make_spec, spec_dict
from scalinglab.errors import ScalingLabError, SpecError
from scalinglab.sweep.spec import DEMO_SPEC, Range, Spec, demo_spec, load_spec, parse_spec

# ---------------------------------------------------------------------------------------------- round trip


def test_valid_spec_parses_with_defaults_filled_in(tiny_spec):
    assert tiny_spec.name == "tiny"
    assert tiny_spec.seeds == 3
    assert tiny_spec.task.kind == "teacher_student"
    assert tiny_spec.task.features == 256
    assert tiny_spec.task.spectrum_exponent == 0.5
    assert tiny_spec.task.noise == 0.0
    assert tiny_spec.model.kind == "random_features"
    assert tiny_spec.model.ridge == 1e-8
    assert tiny_spec.grid.data.values() == [8, 16, 32, 64]


@pytest.mark.parametrize(
    "data",
    [
        TINY,
        spec_dict(
            name="odd.name-1_x",
            seeds=7,
            task={"kind": "teacher_student", "features": 300, "spectrum_exponent": 1.25, "noise": 0.1,
                  "average_teacher": False, "teacher_seed": 5},
            model={"kind": "random_features", "ridge": 1e-5},
            grid={"data": {"min": 3, "max": 300, "num": 9}, "size": {"min": 2, "max": 17, "num": 1}},
        ),
        DEMO_SPEC,
    ],
    ids=["tiny", "non-defaults", "demo"],
)
def test_toml_round_trip(data):
    spec = parse_spec(data)
    text = spec.to_toml()
    back = parse_spec(tomllib.loads(text))
    assert back == spec
    assert back.fingerprint() == spec.fingerprint()
    assert back.model_dump() == spec.model_dump()


def test_load_spec_reads_a_file(tmp_path, tiny_spec):
    path = tmp_path / "s.toml"
    path.write_text(tiny_spec.to_toml())
    assert load_spec(path) == tiny_spec
    assert load_spec(str(path)) == tiny_spec


def test_demo_spec_is_valid_and_round_trips():
    spec = demo_spec()
    assert parse_spec(tomllib.loads(spec.to_toml())) == spec


# ---------------------------------------------------------------------------------------------- grids


@pytest.mark.parametrize(
    "lo, hi, num",
    [(8, 64, 4), (16, 1024, 13), (1, 1000, 10), (3, 7, 50), (2, 3, 8), (5, 5000, 200), (10, 11, 2)],
)
def test_range_values_log_spaced_unique_sorted_with_endpoints(lo, hi, num):
    values = Range(min=lo, max=hi, num=num).values()
    assert values == sorted(set(values)), "sorted and unique"
    assert all(isinstance(v, int) for v in values)
    assert values[0] == lo and values[-1] == hi
    assert len(values) <= num
    expected = sorted({int(round(v)) for v in np.geomspace(lo, hi, num)})
    assert values == expected


def test_range_values_are_geometric():
    assert Range(min=8, max=64, num=4).values() == [8, 16, 32, 64]
    assert Range(min=1, max=1000, num=4).values() == [1, 10, 100, 1000]
    values = Range(min=16, max=1024, num=13).values()
    ratios = np.diff(np.log(values))
    assert np.allclose(ratios, np.log(2) / 2, atol=0.05)


def test_range_degenerate_cases():
    assert Range(min=7, max=7, num=5).values() == [7]
    assert Range(min=4, max=40, num=1).values() == [40]
    # More points than integers: duplicates dropped, still covers every integer.
    assert Range(min=3, max=7, num=50).values() == [3, 4, 5, 6, 7]


# ---------------------------------------------------------------------------------------------- fingerprint


def test_fingerprint_is_stable_hex():
    fp = make_spec().fingerprint()
    assert fp == make_spec().fingerprint()
    assert len(fp) == 16
    int(fp, 16)


def test_fingerprint_ignores_name_and_seeds():
    base = make_spec().fingerprint()
    assert make_spec(name="other").fingerprint() == base
    assert make_spec(seeds=99).fingerprint() == base


@pytest.mark.parametrize(
    "section, key, value",
    [
        ("task", "features", 512),
        ("task", "spectrum_exponent", 0.75),
        ("task", "noise", 0.1),
        ("task", "average_teacher", False),
        ("task", "teacher_seed", 1),
        ("model", "ridge", 1e-6),
    ],
)
def test_fingerprint_changes_with_task_and_model_params(section, key, value):
    d = spec_dict()
    d[section][key] = value
    assert parse_spec(d).fingerprint() != make_spec().fingerprint()


def test_fingerprint_changes_with_grid():
    d = spec_dict()
    d["grid"]["data"]["num"] = 3
    assert parse_spec(d).fingerprint() != make_spec().fingerprint()
    d = spec_dict()
    d["grid"]["size"]["max"] = 128
    assert parse_spec(d).fingerprint() != make_spec().fingerprint()


def test_fingerprint_same_for_explicit_defaults():
    d = spec_dict()
    d["task"].update(noise=0.0, average_teacher=True, teacher_seed=0)
    d["model"]["ridge"] = 1e-8
    assert parse_spec(d).fingerprint() == make_spec().fingerprint()


# ---------------------------------------------------------------------------------------------- errors


def _mutate(path: str, value):
    """A copy of the tiny spec with the dotted key set to value (``...`` deletes it)."""
    d = spec_dict()
    *parents, last = path.split(".")
    node = d
    for p in parents:
        node = node[p]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return d


BAD = [
    # (case id, dotted key to set, value, substrings the message must contain)
    ("unknown-top-level", "bogus", 1, ["bogus"]),
    ("unknown-nested", "task.featurs", 256, ["task.featurs"]),
    ("unknown-grid-key", "grid.extra", {"min": 1, "max": 2}, ["grid.extra"]),
    ("unknown-range-key", "grid.size.step", 2, ["grid.size.step"]),
    ("negative-size", "grid.data.min", -3, ["grid.data.min"]),
    ("zero-size", "grid.size.max", 0, ["grid.size.max"]),
    ("min-greater-than-max", "grid.data.min", 100, ["grid.data", "min"]),
    ("num-zero", "grid.data.num", 0, ["grid.data.num"]),
    ("unknown-task-kind", "task.kind", "mnist", ["task.kind", "mnist"]),
    ("unknown-model-kind", "model.kind", "transformer", ["model.kind", "transformer"]),
    ("features-below-grid", "task.features", 32, ["task.features"]),
    ("missing-grid", "grid", ..., ["grid"]),
    ("missing-name", "name", ..., ["name"]),
    ("missing-task", "task", ..., ["task"]),
    ("missing-grid-size", "grid.size", ..., ["grid.size"]),
    ("bad-name", "name", "has space", ["name"]),
    ("zero-seeds", "seeds", 0, ["seeds"]),
    ("float-seeds", "seeds", 2.5, ["seeds"]),
    ("negative-exponent", "task.spectrum_exponent", -0.5, ["task.spectrum_exponent"]),
    ("nan-exponent", "task.spectrum_exponent", float("nan"), ["task.spectrum_exponent"]),
    ("negative-noise", "task.noise", -1.0, ["task.noise"]),
    ("negative-ridge", "model.ridge", -1.0, ["model.ridge"]),
    ("unknown-model-key", "model.width", 3, ["model.width"]),
    ("grid-not-a-table", "grid", 5, ["grid"]),
]


@pytest.mark.parametrize("key, value, needles", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_malformed_spec_raises_spec_error_naming_the_key(key, value, needles):
    with pytest.raises(SpecError) as info:
        parse_spec(_mutate(key, value))
    message = str(info.value)
    assert "\n" not in message, "one line"
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    assert isinstance(info.value, ScalingLabError)


def test_spec_error_is_not_a_raw_pydantic_error():
    with pytest.raises(SpecError) as info:
        parse_spec(_mutate("task.featurs", 1))
    assert info.value.__cause__ is None
    assert "pydantic" not in str(info.value).lower()
    assert "validation error" not in str(info.value).lower()


def test_spec_objects_are_frozen(tiny_spec):
    with pytest.raises(ValidationError):
        tiny_spec.seeds = 10  # type: ignore[misc]


def test_spec_model_validate_is_strict_about_extra_keys_directly():
    with pytest.raises(ValidationError):
        Spec.model_validate(_mutate("task.featurs", 1))


# ---------------------------------------------------------------------------------------------- files


def test_load_spec_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert "nope.toml" in str(info.value)


def test_load_spec_directory(tmp_path):
    with pytest.raises(SpecError):
        load_spec(tmp_path)


def test_load_spec_invalid_toml(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "x"\n[task\nkind = ')
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert "broken.toml" in str(info.value)
    assert "TOML" in str(info.value)


def test_load_spec_malformed_file_names_the_key(tmp_path, tiny_spec):
    path = tmp_path / "s.toml"
    path.write_text(tiny_spec.to_toml().replace("features =", "featurs ="))
    with pytest.raises(SpecError, match=r"task\.featurs"):
        load_spec(path)


def test_load_spec_non_utf8_file_raises_spec_error(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(SpecError):
        load_spec(path)


@pytest.mark.parametrize("table", ["task", "model"])
def test_missing_kind_names_the_key(table):
    data = spec_dict()
    del data[table]["kind"]
    with pytest.raises(SpecError, match=rf"^{table}\.kind: missing required key$"):
        parse_spec(data)
