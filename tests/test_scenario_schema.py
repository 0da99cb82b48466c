"""The JSON Schema editors see and the loader agree; the docs' field reference is current."""

from __future__ import annotations

import copy
import typing
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel

from activitykit.errors import InputError
from activitykit.scenario import Scenario, load_scenario, scenario_from_data
from activitykit.scenario.reference import BEGIN, END, field_reference

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = sorted((ROOT / "scenarios").glob("*.yaml"))
SCHEMA = Scenario.model_json_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _models() -> dict[str, type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}

    def visit(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp.__name__ not in found:
                found[tp.__name__] = tp
                for f in tp.model_fields.values():
                    visit(f.annotation)
            return
        for arg in typing.get_args(tp):
            visit(arg)

    visit(Scenario)
    return found


def test_the_schema_itself_is_valid() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_every_schema_object_matches_its_model_and_refuses_extras() -> None:
    models = _models()
    defs = {**SCHEMA["$defs"], "Scenario": SCHEMA}
    assert set(models) == set(defs)
    for name, sub in defs.items():
        assert sub.get("additionalProperties") is False, name
        assert set(sub["properties"]) == set(models[name].model_fields), name
        required = {n for n, f in models[name].model_fields.items() if f.is_required()}
        assert set(sub.get("required", [])) == required, name


def _full_document() -> dict[str, Any]:
    """A document that sets every field of every section (baseline, effective, + extras)."""
    doc = load_scenario(ROOT / "scenarios" / "baseline.yaml").model_dump(mode="json")
    doc["workload"]["arrivals"][0]["handler"] = {
        "duration": {"dist": "fixed", "value": 3.0},
        "failure_probability": 0.1,
    }
    doc["workload"]["arrivals"][0]["cancel_probability"] = 0.5
    doc["faults"]["server_busy"]["windows"] = [{"start": 10, "end": 20}]
    return doc


def _dict_paths(node: Any, path: tuple = ()) -> list[tuple]:
    out: list[tuple] = []
    if isinstance(node, dict):
        out.append(path)
        for k, v in node.items():
            out += _dict_paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _dict_paths(v, (*path, i))
    return out


def _at(doc: Any, path: tuple) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def test_every_field_the_schema_names_is_accepted_by_the_loader() -> None:
    doc = _full_document()
    assert not list(VALIDATOR.iter_errors(doc))
    assert scenario_from_data(copy.deepcopy(doc)).model_dump(mode="json") == doc
    # The full document really does use every property of the sections it contains.
    models = _models()
    seen: set[str] = set()
    for path in _dict_paths(doc):
        node = _at(doc, path)
        for name, model in models.items():
            if set(node) == set(model.model_fields) and (
                "dist" not in node or model.model_fields["dist"].default in (None, node["dist"])
            ):
                seen.add(name)
    assert {"Scenario", "FleetGroup", "Server", "Arrival", "Bulk", "Chain", "ChainStep"} <= seen


#: Every section of the full document; ``handlers`` maps are left out (their keys are
#: activity type names, checked against the catalog instead).
SECTIONS = [p for p in _dict_paths(_full_document()) if not p or p[-1] != "handlers"]


@pytest.mark.parametrize("path", SECTIONS, ids=lambda p: ".".join(map(str, p)) or "top")
def test_an_unknown_key_is_refused_by_both(path: tuple) -> None:
    doc = _full_document()
    node = _at(doc, path)
    node["zz_unknown"] = 1
    assert list(VALIDATOR.iter_errors(doc)), "JSON Schema accepted an unknown key"
    with pytest.raises(InputError, match="unknown key 'zz_unknown'"):
        scenario_from_data(doc)


@pytest.mark.parametrize(
    ("change", "value"),
    [
        (("duration",), -1),
        (("duration",), "60"),
        (("seed",), 1.5),
        (("fleet", "groups", 0, "computers"), -1),
        (("fleet", "groups", 0, "computers"), True),
        (("fleet", "groups", 0, "ping_interval"), 0),
        (("fleet", "groups"), []),
        (("server", "prefetch"), 0),
        (("model", "profile"), "optimistic"),
        (("approvals", "probability"), 1.5),
        (("fleet", "groups", 0, "default_handler", "duration"), {"dist": "gamma"}),
        (("fleet", "groups", 0, "default_handler", "duration"), -2),
        (("output", "trace_format"), "csv"),
    ],
)
def test_bad_values_are_refused_by_both(change: tuple, value: Any) -> None:
    doc = _full_document()
    _at(doc, change[:-1])[change[-1]] = value
    assert list(VALIDATOR.iter_errors(doc)), f"JSON Schema accepted {change}={value!r}"
    with pytest.raises(InputError):
        scenario_from_data(doc)


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_bundled_files_satisfy_the_json_schema(path: Path) -> None:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    errors = [e.message for e in VALIDATOR.iter_errors(raw)]
    assert not errors
    assert not list(VALIDATOR.iter_errors(load_scenario(path).model_dump(mode="json")))


def test_docs_field_reference_is_current() -> None:
    text = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    generated = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert generated.strip() == field_reference().strip(), (
        "docs/scenarios.md is out of date; run: "
        "python -m activitykit.scenario.reference --write docs/scenarios.md"
    )


def test_every_field_has_a_description() -> None:
    missing = [
        f"{name}.{field}"
        for name, model in _models().items()
        for field, info in model.model_fields.items()
        if not info.description
    ]
    assert not missing, f"document these fields in schema.py: {missing}"


def test_reference_update_rewrites_only_the_generated_part(tmp_path: Path) -> None:
    from activitykit.scenario.reference import update_file

    doc = tmp_path / "scenarios.md"
    doc.write_text(f"# Title\n\nintro\n\n{BEGIN}\nOLD TEXT\n{END}\n\ntail\n", encoding="utf-8")
    assert update_file(doc) is True
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# Title\n\nintro\n\n") and text.endswith(f"{END}\n\ntail\n")
    assert "OLD TEXT" not in text and "### FleetGroup" in text
    assert update_file(doc) is False


def test_start_states_are_the_models_start_states() -> None:
    # schema.StartState spells the start states out (a Literal must); it must not drift
    # from the model's START_STATES.
    from activitykit.model import START_STATES
    from activitykit.scenario.schema import StartState

    assert set(typing.get_args(StartState)) == {s.value for s in START_STATES}


def test_ping_round_trip_takes_a_number_or_a_distribution() -> None:
    def client(rt: object) -> Any:
        return (
            scenario_from_data(
                {"name": "x", "fleet": {"groups": [{"client": {"ping_round_trip": rt}}]}}
            )
            .fleet.groups[0]
            .client.ping_round_trip
        )

    assert client(0.004).value == 0.004  # a bare number stays a fixed value
    drawn = client({"dist": "lognormal", "mean": 0.0062, "sigma": 0.71})
    assert (drawn.dist, drawn.mean) == ("lognormal", 0.0062)
    assert client(None) is None
    with pytest.raises(InputError, match=r"ping_round_trip.*dead network"):
        client({"dist": "exponential", "mean": 120})
