"""The CRD itself: descriptions everywhere, defaults in sync with the renderer, printer columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from gameroom_operator.defaults import ATOMIC_DEFAULTS, SPEC_DEFAULTS, effective_spec

ROOT = Path(__file__).resolve().parents[2]
CRD = yaml.safe_load((ROOT / "crds" / "gameroom.yaml").read_text())
SCHEMA = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def walk(schema: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any]]]:
    found = [(path, schema)]
    for key, sub in (schema.get("properties") or {}).items():
        found += walk(sub, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        found += walk(schema["items"], f"{path}[]")
    return found


def schema_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    """What the API server fills into an empty object, following nested `default: {}`."""
    result: dict[str, Any] = {}
    for key, sub in (schema.get("properties") or {}).items():
        if "default" not in sub:
            continue
        value = sub["default"]
        if sub.get("type") == "object" and value == {}:
            value = schema_defaults(sub)
        result[key] = value
    return result


def test_every_field_has_a_description() -> None:
    missing = [
        path
        for path, sub in walk(SCHEMA, "")
        if path not in ("", ".metadata") and not path.endswith("[]") and not sub.get("description")
    ]
    assert missing == []
    # A YAML flow mapping like {description: True, False or Unknown.} parses as a boolean.
    not_text = [
        path
        for path, sub in walk(SCHEMA, "")
        if "description" in sub and not isinstance(sub["description"], str)
    ]
    assert not_text == []


def test_renderer_defaults_equal_the_crd_defaults() -> None:
    assert schema_defaults(SCHEMA["properties"]["spec"]) == SPEC_DEFAULTS


def test_atomic_defaults_are_not_merged_into_a_given_value() -> None:
    assert "resources" in ATOMIC_DEFAULTS
    spec = effective_spec({"resources": {"limits": {"cpu": "2"}}, "game": {"rounds": 7}})
    assert spec["resources"] == {"limits": {"cpu": "2"}}
    assert spec["game"]["rounds"] == 7 and spec["game"]["maxPlayers"] == 12


def test_names_columns_and_status_subresource() -> None:
    names = CRD["spec"]["names"]
    assert names["kind"] == "GameRoom"
    assert set(names["shortNames"]) == {"gr", "room"}
    assert names["categories"] == ["games"]
    version = CRD["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    assert list(columns) == [
        "Phase",
        "Players",
        "Version",
        "Health",
        "Rollout",
        "Last Backup",
        "Age",
        "URL",
    ]
    assert columns["URL"]["priority"] == 1
    assert all(c.get("priority", 0) == 0 for name, c in columns.items() if name != "URL")


@pytest.mark.parametrize(
    ("path", "low", "high"),
    [
        (".spec.game.maxPlayers", 2, 24),
        (".spec.game.rounds", 1, 10),
        (".spec.game.drawTimeSeconds", 30, 240),
        (".spec.game.wordChoices", 1, 5),
    ],
)
def test_game_bounds(path: str, low: int, high: int) -> None:
    schema = dict(walk(SCHEMA, ""))[path]
    assert (schema["minimum"], schema["maximum"]) == (low, high)


def test_custom_words_bounds() -> None:
    words = dict(walk(SCHEMA, ""))[".spec.game.customWords"]
    assert words["maxItems"] == 1000
    assert (words["items"]["minLength"], words["items"]["maxLength"]) == (1, 32)


def test_status_phases_match_the_operator() -> None:
    from gameroom_operator.status import PHASES

    phase = SCHEMA["properties"]["status"]["properties"]["phase"]
    assert tuple(phase["enum"]) == PHASES
