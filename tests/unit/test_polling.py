"""Polling: growing waits, the deadline, and status reads that fail on the way."""

from __future__ import annotations

import pytest

from tenantops.backends.retry import is_retryable
from tenantops.errors import NotFoundError, ServerError
from tenantops.polling import poll


class Reads:
    """A status endpoint answering from a script: a value, or an exception to raise."""

    def __init__(self, *script: object) -> None:
        self.script = list(script)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, Exception):
            raise item
        assert isinstance(item, str)
        return item


def unavailable() -> ServerError:
    return ServerError("GET status failed on the server (503) after every retry", status=503)


async def test_a_read_that_ran_out_of_retries_is_a_round_without_news() -> None:
    """503s between two answers do not end the watch: the final state is still seen."""
    reads = Reads("active", unavailable(), unavailable(), "active", unavailable(), "done")
    value, final = await poll(
        reads, lambda s: s == "done", first=0.001, longest=0.001, timeout=5, transient=is_retryable
    )
    assert (value, final, reads.calls) == ("done", True, 6)


async def test_an_error_that_is_not_transient_ends_the_watch_at_once() -> None:
    reads = Reads("active", NotFoundError("no such deployment", status=404), "done")
    with pytest.raises(NotFoundError, match="no such deployment"):
        await poll(
            reads, lambda s: s == "done", first=0.001, longest=0.001, timeout=5,
            transient=is_retryable,
        )  # fmt: skip
    assert reads.calls == 2


async def test_without_transient_any_error_ends_the_watch() -> None:
    reads = Reads("active", unavailable(), "done")
    with pytest.raises(ServerError):
        await poll(reads, lambda s: s == "done", first=0.001, longest=0.001, timeout=5)


async def test_the_deadline_answers_the_last_value_seen() -> None:
    """Past the deadline, the last answer stands even when the reads since then failed."""
    reads = Reads("active", unavailable())
    value, final = await poll(
        reads, lambda s: s == "done", first=0.01, longest=0.01, timeout=0.1, transient=is_retryable
    )
    assert (value, final) == ("active", False)
    assert reads.calls > 2


async def test_no_answer_at_all_before_the_deadline_raises_the_last_failure() -> None:
    reads = Reads(unavailable())
    with pytest.raises(ServerError, match="after every retry"):
        await poll(
            reads, lambda s: s == "done", first=0.01, longest=0.01, timeout=0.05,
            transient=is_retryable,
        )  # fmt: skip
    assert reads.calls > 1
