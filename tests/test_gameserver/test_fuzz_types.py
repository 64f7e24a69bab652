"""Deep fuzz, behind the `fuzz` marker: at least 10,000 frames of every client message type
(FUZZ_FRAMES to change it) against a real server over a real WebSocket.

    .venv/bin/python -m pytest tests/test_gameserver -m fuzz -q

Each type gets frames built around its own fields: well-formed values, wrong types,
out-of-range numbers, huge numbers, unpaired surrogates, control and format characters,
unknown extra fields, and truncated JSON. The server must answer every frame the protocol
parser rejects with exactly that error (echoing its `ref`), never fail on one (no
`internal_error`), never drop the connection (but after `leave`, as the protocol says),
send only protocol messages, and stay healthy. The normal run leaves these out (the
`fuzz` marker is deselected unless asked for by `-m`), so it keeps its size.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gameserver import protocol as p

from .test_fuzz import SERVER_TYPES, FuzzRig, json_values

pytestmark = pytest.mark.fuzz

FRAMES = int(os.environ.get("FUZZ_FRAMES", "10000"))
BATCH = 50
EXAMPLES = math.ceil(FRAMES / BATCH)
SENT: Counter[str] = Counter()

junk_text = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()),  # any code point, surrogates too
    max_size=40,
)
numbers = st.one_of(
    st.integers(-5, 50),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.just(10**400),  # a JSON number Python's float() cannot hold
)
anything = st.one_of(json_values, numbers, junk_text)
point = st.lists(st.one_of(numbers, junk_text), min_size=0, max_size=3)

FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "join": {
        "name": st.one_of(junk_text, st.text(min_size=1, max_size=30)),
        "spectator": st.one_of(st.booleans(), anything),
        "token": st.one_of(st.text(alphabet="0123456789abcdef", max_size=70), anything),
        "protocol": st.one_of(st.just(1), anything),
    },
    "settings": {
        "settings": st.one_of(
            st.dictionaries(
                st.sampled_from(
                    [
                        "rounds",
                        "drawTimeSeconds",
                        "wordChoices",
                        "hints",
                        "maxPlayers",
                        "customWords",
                        "customWordsOnly",
                        "language",
                        "bogus",
                    ]
                ),
                st.one_of(numbers, st.booleans(), st.lists(junk_text, max_size=8), anything),
                max_size=4,
            ),
            anything,
        )
    },
    "start": {},
    "choose_word": {"index": st.one_of(st.integers(-2, 6), anything)},
    "draw": {
        "stroke": st.one_of(st.integers(-3, 2**40), anything),
        "tool": st.one_of(st.sampled_from(["brush", "eraser", "pen", ""]), anything),
        "color": st.one_of(st.integers(-2, 40), anything),
        "width": st.one_of(numbers, anything),
        "points": st.one_of(st.lists(point, max_size=30), anything),
    },
    "fill": {
        "stroke": st.one_of(st.integers(-3, 2**40), anything),
        "color": st.one_of(st.integers(-2, 40), anything),
        "x": st.one_of(numbers, anything),
        "y": st.one_of(numbers, anything),
    },
    "undo": {},
    "clear": {},
    "chat": {"text": st.one_of(junk_text, st.text(min_size=1, max_size=250), anything)},
    "vote_kick": {"target": st.one_of(st.text(max_size=40), anything)},
    "ping": {"t": st.one_of(numbers, anything)},
    "leave": {},
}
TYPES = list(FIELDS)


def frames_of(kind: str) -> st.SearchStrategy[str]:
    fields = FIELDS[kind]
    shaped = st.fixed_dictionaries(
        {"type": st.just(kind)},
        optional={
            **fields,
            "ref": st.one_of(st.text(max_size=12), anything),
            "extra": anything,
        },
    ).map(lambda frame: json.dumps(frame, ensure_ascii=True))
    truncated = shaped.flatmap(lambda raw: st.integers(0, len(raw) - 1).map(lambda n: raw[:n]))
    return st.one_of(shaped, shaped, shaped, truncated)


class TypeRig(FuzzRig):
    """The fuzz rig of test_fuzz.py, also following a `leave`: the socket closes with 1000
    and the fuzzer joins again."""

    async def send_batch(self, frames: list[str]) -> None:
        expected: list[tuple[str, str | None]] = []
        for raw in frames:
            try:
                kind, _, _ = p.parse_client_message(raw)
            except p.ProtocolError as err:
                expected.append((err.code, err.ref))
                kind = ""
            await self.ws.send_str(raw)
            if kind == "leave":
                await self.check(expected, closing=True)
                expected = []
                self.ws = await self._join("Fuzzer")
        await self.check(expected)

    async def check(self, expected: list[tuple[str, str | None]], closing: bool = False) -> None:
        marker = next(self.markers) + 0.5
        if not closing:
            await self.ws.send_str(json.dumps({"type": "ping", "t": marker}))
        received: list[dict[str, Any]] = []
        async with asyncio.timeout(20):
            while True:
                msg = await self.ws.receive()
                if closing and msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    assert self.ws.close_code == 1000, self.ws.close_code
                    break
                assert msg.type == aiohttp.WSMsgType.TEXT, f"connection ended: {msg}"
                data = json.loads(msg.data)
                received.append(data)
                if data.get("type") == "pong" and data.get("t") == marker:
                    break
        for frame in received:
            assert frame.get("type") in SERVER_TYPES, frame
            if frame["type"] == "error":
                assert frame["code"] in p.ERROR_CODES and frame["message"], frame
                assert frame["code"] != "internal_error", frame
        errors = iter((m["code"], m.get("ref")) for m in received if m["type"] == "error")
        for want in expected:
            assert any(got == want for got in errors), (want, received)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TypeRig]:
    rig = TypeRig(tmp_path_factory.mktemp("fuzz-types"))
    yield rig
    rig.close()


def fuzz_type(kind: str) -> Any:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(batch=st.lists(frames_of(kind), min_size=BATCH, max_size=BATCH))
    def test(rig: TypeRig, batch: list[str]) -> None:
        rig.loop.run_until_complete(rig.send_batch(batch))
        SENT[kind] += len(batch)

    test.__name__ = f"test_fuzz_{kind}_frames"
    return test


for _kind in TYPES:
    globals()[f"test_fuzz_{_kind}_frames"] = fuzz_type(_kind)


def test_every_type_got_its_frames_and_the_room_is_healthy(rig: TypeRig) -> None:
    assert {kind: SENT[kind] >= FRAMES for kind in TYPES} == dict.fromkeys(TYPES, True), SENT

    async def health() -> tuple[int, dict[str, Any]]:
        async with rig.session.get(rig.room.url + "api/health") as resp:
            return resp.status, await resp.json()

    status, body = rig.loop.run_until_complete(health())
    assert status == 200 and body["status"] in ("healthy", "degraded"), body
    print(f"frames sent per type: {dict(SENT)}")
