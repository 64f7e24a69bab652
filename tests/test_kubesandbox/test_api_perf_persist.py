"""--state-dir persistence as a snapshot plus a journal: a save writes only what changed,
and whatever the files went through (compaction, a crash between its two steps, a torn
last line), a restart restores exactly the objects and resourceVersion that were saved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from kubesandbox.apiserver.core import ApiCore, DeleteOptions
from kubesandbox.apiserver.persistence import StateFiles
from kubesandbox.apiserver.server import ApiServer
from kubesandbox.apiserver.store import Store

from .conftest import admin


def _world(store: Store) -> dict[Any, Any]:
    return {
        (rkey, ns, name): obj
        for rkey, buckets in store.data.items()
        for ns, bucket in buckets.items()
        for name, obj in bucket.items()
    }


def _open(directory: Path, **kwargs: Any) -> tuple[Store, ApiCore, StateFiles]:
    store = Store()
    files = StateFiles(store, directory, **kwargs)
    files.load()
    return store, ApiCore(store), files


def _reloaded(directory: Path) -> Store:
    store = Store()
    StateFiles(store, directory).load()
    return store


def _configmap(name: str, value: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": {"k": value}}


def test_a_save_appends_only_the_objects_changed_since_the_last_one(tmp_path: Path) -> None:
    store, api, files = _open(tmp_path)
    cm = api.lookup("", "v1", "configmaps")
    for i in range(50):
        api.create(cm, None, "default", _configmap(f"c{i}", "0"), manager="t")
    files.flush()
    size = files.journal_path.stat().st_size
    for round_ in range(5):  # one object written five times, another deleted
        api.update(cm, None, "default", "c1", _configmap("c1", str(round_)), manager="t")
    api.delete(cm, "default", "c2", DeleteOptions())
    assert files.flush() == 2
    appended = files.journal_path.read_bytes()[size:]
    assert appended.count(b"\n") == 2
    assert b'"c1"' in appended and b'"c2"' in appended and b'"c3"' not in appended
    assert files.flush() == 0
    restored = _reloaded(tmp_path)
    assert _world(restored) == _world(store)
    assert restored.rv == store.rv
    assert restored.get(("", "configmaps"), "default", "c1")["data"] == {"k": "4"}
    assert restored.get(("", "configmaps"), "default", "c2") is None


def test_the_journal_is_folded_into_the_snapshot_once_it_outgrows_it(tmp_path: Path) -> None:
    store, api, files = _open(tmp_path, min_compact_bytes=2_000)
    cm = api.lookup("", "v1", "configmaps")
    for i in range(40):
        api.create(cm, None, "default", _configmap(f"c{i}", "x" * 100), manager="t")
        files.flush()
    assert files.compactions >= 1
    assert files.snapshot_path.exists()
    assert files.journal_path.stat().st_size < 2 * files.snapshot_path.stat().st_size + 2_000
    restored = _reloaded(tmp_path)
    assert _world(restored) == _world(store)
    assert restored.rv == store.rv


def test_a_crash_between_snapshot_and_emptied_journal_restores_the_newest_state(
    tmp_path: Path,
) -> None:
    store, api, files = _open(tmp_path)
    cm = api.lookup("", "v1", "configmaps")
    api.create(cm, None, "default", _configmap("a", "old"), manager="t")
    api.create(cm, None, "default", _configmap("gone", "1"), manager="t")
    files.flush()
    stale = files.journal_path.read_bytes()
    api.update(cm, None, "default", "a", _configmap("a", "new"), manager="t")
    api.delete(cm, "default", "gone", DeleteOptions())
    files.flush()
    files.compact()
    files.journal_path.write_bytes(stale)  # as if the process died before emptying it
    restored = _reloaded(tmp_path)
    assert restored.get(("", "configmaps"), "default", "a")["data"] == {"k": "new"}
    assert restored.get(("", "configmaps"), "default", "gone") is None
    assert _world(restored) == _world(store)


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    store, api, files = _open(tmp_path)
    cm = api.lookup("", "v1", "configmaps")
    api.create(cm, None, "default", _configmap("kept", "1"), manager="t")
    files.flush()
    before = _world(store)
    rv = store.rv
    with files.journal_path.open("ab") as fh:
        fh.write(b'{"rv": 999999, "put": {"group": "", "plu')
    restored = _reloaded(tmp_path)
    assert _world(restored) == before
    assert restored.rv == rv


def test_restored_owner_references_still_drive_garbage_collection(tmp_path: Path) -> None:
    _, api, files = _open(tmp_path)
    cm = api.lookup("", "v1", "configmaps")
    owner = api.create(cm, None, "default", _configmap("owner", "1"), manager="t")
    child = _configmap("child", "1")
    child["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    ]
    api.create(cm, None, "default", child, manager="t")
    files.flush()
    store = _reloaded(tmp_path)
    again = ApiCore(store)
    again.delete(cm, "default", "owner", DeleteOptions())
    assert store.get(("", "configmaps"), "default", "child") is None


async def test_a_server_restart_keeps_objects_written_since_the_last_snapshot(
    tmp_path: Path,
) -> None:
    first = ApiServer(state_dir=tmp_path, persist=True, port=0)
    await first.start()
    path = "/api/v1/namespaces/default/configmaps"
    url = first.url + path
    async with aiohttp.ClientSession(headers=admin(first)) as s:
        for i in range(3):
            r = await s.post(url, json={"metadata": {"name": f"c{i}"}, "data": {"i": str(i)}})
            assert r.status == 201
        r = await s.delete(url + "/c0")
        assert r.status == 200
    await first.stop()
    second = ApiServer(state_dir=tmp_path, persist=True, port=0)
    await second.start()
    try:
        async with aiohttp.ClientSession(headers=admin(second)) as s:
            listed = await (await s.get(second.url + path)).json()
        names = [o["metadata"]["name"] for o in listed["items"]]
        assert names == ["c1", "c2", "kube-root-ca.crt"]
        assert int(listed["metadata"]["resourceVersion"]) >= first.store.rv
    finally:
        await second.stop()
