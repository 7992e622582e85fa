"""ASGI pieces both simulators' middleware share: stamp a response header, buffer a body."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import Message, Receive, Send

__all__ = ["Answer", "buffered", "stamped"]


def stamped(send: Send, header: str, value: str) -> Send:
    """A ``send`` that adds ``header: value`` to the response it starts."""

    async def stamp(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message)[header] = value
        await send(message)

    return stamp


async def buffered(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole body, and a ``receive`` that hands it on again."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return body, replay


class Answer:
    """The ``send`` a faulty simulator answers through: it stamps ``header``, remembers
    the status, and sends nothing at all when the connection is to be dropped."""

    def __init__(self, send: Send, header: str, value: str, *, drop: bool) -> None:
        self._send = stamped(send, header, value)
        self.drop = drop
        self.status = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        if not self.drop:
            await self._send(message)
