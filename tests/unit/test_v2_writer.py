"""The cognigy-v2 writer's batches: cut under the body limit, removals first, created ids."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tenantops.backends.cognigy_v2.writer import _BODY_BUDGET, _chunks, _created_ids


def create(text: str) -> dict[str, Any]:
    return {"op": "create", "value": {"text": text, "localeId": "l" * 24}}


def delete(n: int) -> dict[str, Any]:
    return {"op": "delete", "id": f"{n:024x}"}


def body_size(chunk: list[dict[str, Any]]) -> int:
    """Bytes of the batch body as httpx sends it."""
    body = {"operations": chunk}
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


@pytest.mark.parametrize("text", ["a sentence about loyalty points " * 10, "Ümlaut für alle " * 20])
def test_batches_stay_under_the_budget_with_every_removal_first(text: str) -> None:
    """Every body fits the budget; all operations are sent once, deletes before creates
    (in an earlier call when they do not share one)."""
    ops = [create(f"{text} {i}") for i in range(300)] + [delete(i) for i in range(400)]

    chunks = _chunks(ops)

    assert len(chunks) > 1
    assert all(body_size(chunk) <= _BODY_BUDGET for chunk in chunks)
    sent = [op for chunk in chunks for op in chunk]
    assert sent == ops[300:] + ops[:300]


def test_a_small_batch_is_one_call_and_removes_first() -> None:
    """A replaced sentence: one call, the delete first."""
    assert _chunks([create("new"), delete(1)]) == [[delete(1), create("new")]]


def test_keyphrase_removals_go_before_additions() -> None:
    """removeKeyphrase counts as a removal."""
    add = {"op": "addKeyphrase", "id": "e" * 24, "value": {"value": "x"}}
    remove = {"op": "removeKeyphrase", "id": "e" * 24, "value": {"keyphraseId": "k" * 24}}
    assert _chunks([add, remove]) == [[remove, add]]


def intent(name: str) -> dict[str, Any]:
    return {"op": "create", "value": {"name": name, "data": {}}}


def test_created_ids_are_matched_per_call_by_position() -> None:
    """Each call's ids go to that call's creates, in order."""
    sent = [
        ([delete(1), intent("a"), intent("b")], {"created": ["id-a", "id-b"], "deleted": ["1"]}),
        ([intent("c")], {"created": ["id-c"]}),
    ]
    assert _created_ids(sent, "name") == {"a": "id-a", "b": "id-b", "c": "id-c"}


def test_created_documents_are_matched_by_name() -> None:
    """An answer that lists documents is read by their name, whatever their order."""
    answer = {"created": [{"_id": "id-b", "name": "b"}, {"_id": "id-a", "name": "a"}]}
    assert _created_ids([([intent("a"), intent("b")], answer)], "name") == {
        "a": "id-a",
        "b": "id-b",
    }


def test_a_count_that_does_not_match_the_creates_matches_nothing() -> None:
    """Two creates, one id: no guess (the writer lists the intents by name instead)."""
    assert _created_ids([([intent("a"), intent("b")], {"created": ["id-?"]})], "name") == {}
