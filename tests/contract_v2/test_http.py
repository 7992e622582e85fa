"""HTTP facts the cognigy-v2 backend relies on: prefixes, paths, auth, ids, lists, errors, limits.

See ``backends/cognigy_v2/http.py``: it calls ``<host>/new/v2.0`` with ``X-API-Key``,
pages every list 100 at a time by ``next`` cursor, and keys errors on ``status`` and
``code`` of RFC 7807 answers. Runs against the simulator by default (conftest.py).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from support.v2contract import OBJECT_ID, Findings, Scratch, Target, V2Api


def test_both_prefixes_serve_the_same_api(api: V2Api, target: Target) -> None:
    """``/new/v2.0`` (what tenantops calls) and ``/v2.0`` answer the same project."""
    new = api.call("GET", f"/new/v2.0/projects/{target.project_id}")
    old = api.call("GET", f"/v2.0/projects/{target.project_id}")
    assert new.status_code == 200, f"/new/v2.0 answered {new.status_code}: {new.text[:300]}"
    assert old.status_code == 200, f"/v2.0 answered {old.status_code}: {old.text[:300]}"
    assert new.json()["_id"] == old.json()["_id"] == target.project_id


def test_paths_are_case_insensitive(api: V2Api, target: Target) -> None:
    """The fixed words of a path match in any case; ids keep theirs."""
    response = api.call("GET", f"/NEW/V2.0/Projects/{target.project_id}")
    assert response.status_code == 200, (
        f"GET /NEW/V2.0/Projects/{{id}} answered {response.status_code}: paths are case-sensitive"
    )
    assert response.json()["_id"] == target.project_id


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "tenantops-contract-not-a-key"}],
    ids=["no key", "wrong key"],
)
def test_a_call_without_a_valid_key_is_401(
    api: V2Api, target: Target, headers: dict[str, str]
) -> None:
    """No key, or an unknown one: 401 as an RFC 7807 problem; nothing is served."""
    response = httpx.get(
        f"{target.base_url}/new/v2.0/projects/{target.project_id}",
        headers={**headers, "Accept": "application/json"},
        timeout=30,
    )
    assert response.status_code == 401, f"answered {response.status_code}: {response.text[:300]}"
    body = response.json()
    assert body.get("status") == 401, body
    assert "_id" not in body, "the project was served anyway"


def test_the_key_authenticates_as_a_user(api: V2Api) -> None:
    """``GET users/me`` names whom the key acts as (tenantops never removes that member)."""
    me = api.ok("GET", "users/me")
    assert OBJECT_ID.match(str(me.get("_id"))), me
    assert "@" in str(me.get("email")), f"users/me has no e-mail: {me}"


def test_resources_have_24_hex_ids(api: V2Api, target: Target, scratch: Scratch) -> None:
    """Projects, locales, flows and what tenantops creates carry 24-hex ``_id``s."""
    flow = scratch.flow()
    (locale, *_) = api.items("locales", projectId=target.project_id)
    intent = api.ok("POST", f"flows/{flow['_id']}/intents", json={"name": "hex"})
    for what, doc in {"flow": flow, "locale": locale, "intent": intent}.items():
        assert OBJECT_ID.match(str(doc.get("_id"))), f"{what} _id: {doc.get('_id')!r}"
    assert {"_id", "name", "primary", "nluLanguage"} <= set(locale), locale


def test_lists_answer_the_envelope(api: V2Api, target: Target, findings: Findings) -> None:
    """A list is ``{items, total, nextCursor, previousCursor}`` (older servers: next/previous)."""
    page = api.ok("GET", "flows", params={"projectId": target.project_id, "limit": 100})
    assert isinstance(page.get("items"), list), f"no items list: {str(page)[:300]}"
    assert page.get("total") == len(page["items"]), page.get("total")
    keys = sorted(k for k in ("nextCursor", "previousCursor", "next", "previous") if k in page)
    findings.note("list cursor keys", ", ".join(keys) or "none")
    assert keys, f"the list names no cursor (nextCursor or next): {sorted(page)}"


def test_limit_is_at_most_100(api: V2Api, target: Target) -> None:
    """``limit=100`` (tenantops' page size) is served; ``limit=101`` is refused with 400."""
    params = {"projectId": target.project_id}
    assert api.call("GET", "locales", params={**params, "limit": 100}).status_code == 200
    over = api.call("GET", "locales", params={**params, "limit": 101})
    assert over.status_code == 400, f"limit=101 answered {over.status_code}: {over.text[:300]}"


def test_cursor_paging_walks_every_item_once(api: V2Api, scratch: Scratch) -> None:
    """Following ``nextCursor`` with ``next=`` visits every item once; ``total`` counts them all."""
    flow = scratch.flow()
    path = f"flows/{flow['_id']}/intents"
    ops = [{"op": "create", "value": {"name": f"page-{i}"}} for i in range(5)]
    created = api.ok("PATCH", path, json={"operations": ops})["created"]
    seen: list[str] = []
    cursor: str | None = None
    pages: list[dict[str, Any]] = []
    while len(pages) < 10:
        page = api.ok("GET", path, params={"limit": 2, **({"next": cursor} if cursor else {})})
        pages.append(page)
        seen += [i["_id"] for i in page["items"]]
        cursor = page.get("nextCursor") or page.get("next")
        if not cursor:
            break
    assert [len(p["items"]) for p in pages] == [2, 2, 1], [len(p["items"]) for p in pages]
    assert all(p["total"] == 5 for p in pages), [p["total"] for p in pages]
    assert sorted(seen) == sorted(created), "paging skipped or repeated an item"
    assert OBJECT_ID.match(str(pages[0].get("nextCursor") or pages[0].get("next")))
    first_back = pages[0].get("previousCursor") or pages[0].get("previous")
    assert not first_back, f"page 1 points back to {first_back}"
    assert pages[1].get("previousCursor") or pages[1].get("previous"), "page 2 has no way back"


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("flows/0123456789abcdef01234567", 404, "1002"),
        ("flows/not-an-id", 400, "1005"),
    ],
    ids=["unknown id", "malformed id"],
)
def test_errors_are_rfc7807_with_code_and_trace(
    api: V2Api, path: str, status: int, code: str
) -> None:
    """An error answers ``status``, ``code`` (404: 1002, bad id: 1005), ``detail``, ``traceId``."""
    response = api.call("GET", path)
    assert response.status_code == status, f"answered {response.status_code}: {response.text}"
    body = response.json()
    assert body.get("status") == status, body
    assert str(body.get("code")) == code, f"code {body.get('code')!r}, expected {code}: {body}"
    assert body.get("detail") or body.get("title"), body
    assert body.get("traceId"), f"no traceId: {body}"


def test_a_body_over_60_kb_is_413_and_changes_nothing(api: V2Api, scratch: Scratch) -> None:
    """A JSON body over 60 kB answers 413 and is not applied."""
    flow = scratch.flow()
    path = f"flows/{flow['_id']}"
    api.ok("PATCH", path, json={"context": {"size": "small"}})
    big = {"context": {"blob": "x" * (64 * 1024)}}
    response = api.call("PATCH", path, json=big)
    assert response.status_code == 413, f"a 64 kB body answered {response.status_code}"
    assert api.ok("GET", path)["context"] == {"size": "small"}


def test_members_list_emails_and_roles(api: V2Api, target: Target) -> None:
    """``projects/{p}/members`` lists members with an e-mail (``email`` or ``id``) and roles."""
    members = api.items(f"projects/{target.project_id}/members")
    assert members, "the project lists no members"
    for member in members:
        assert OBJECT_ID.match(str(member.get("_id"))), member
        assert "@" in str(member.get("email") or member.get("id")), member
        assert isinstance(member.get("roles"), list), member
