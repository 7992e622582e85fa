"""Webhook signatures: what the official Standard Webhooks library signs is accepted, nothing else."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook
from starlette.datastructures import Headers

from tenantops.relay.signatures import SignatureError, WebhookVerifier, parse_secrets

NOW = 1_716_199_200
OLD = "whsec_" + base64.b64encode(b"old-key-" * 4).decode()
NEW = "whsec_" + base64.b64encode(b"new-key-" * 4).decode()
OTHER = "whsec_" + base64.b64encode(b"not-ours" * 4).decode()
BODY = (
    b'{"sessionId": "s-1", "userId": "u-1", "nodeName": "order_lookup", '
    b'"context": {"orderId": "A-7", "note": "caf\xc3\xa9"}, "version": 7, "timestamp": 1716199200}'
)
MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"


class Clock:
    """A settable Unix clock."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def sign(secret: str, body: bytes = BODY, *, msg_id: str = MSG_ID, ts: int = NOW) -> str:
    """A ``webhook-signature`` value made by the official library, as a sender would."""
    when = datetime.fromtimestamp(ts, tz=UTC)
    return Webhook(secret).sign(msg_id, when, body.decode())


def headers(signature: str, *, msg_id: str = MSG_ID, ts: int | str = NOW) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


def verifier(*secrets: str, now: float = NOW) -> WebhookVerifier:
    return WebhookVerifier(secrets or (OLD,), clock=Clock(now))


def reason(v: WebhookVerifier, hdrs: Mapping[str, str], body: bytes = BODY) -> str:
    with pytest.raises(SignatureError) as info:
        v.verify(hdrs, body)
    return info.value.reason


# -- accepted ------------------------------------------------------------------------


@pytest.mark.parametrize("body", [BODY, b"{}", b"", "€ ünïcödé ✓".encode()])
def test_official_library_signature_is_accepted(body: bytes) -> None:
    """A signature made by ``standardwebhooks.Webhook.sign`` verifies and yields the id."""
    assert verifier().verify(headers(sign(OLD, body)), body) == MSG_ID


def test_specification_test_vector_is_accepted() -> None:
    """The test vector the Standard Webhooks libraries share verifies."""
    v = WebhookVerifier(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], clock=Clock(1614265330))
    hdrs = headers(
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        ts=1614265330,
    )
    assert v.verify(hdrs, b'{"test": 2432232314}') == "msg_p5jXN8AQM9LWM0D4loKWxJek"


def test_second_of_two_rotated_secrets_is_accepted() -> None:
    """During rotation, a delivery signed with the second configured secret verifies."""
    assert verifier(OLD, NEW).verify(headers(sign(NEW)), BODY) == MSG_ID


def test_one_matching_signature_among_several_is_accepted() -> None:
    """A header listing several signatures passes when any one of them matches."""
    signature = f"{sign(OTHER)} {sign(OLD)} {sign(OTHER, b'other body')}"
    assert verifier().verify(headers(signature), BODY) == MSG_ID


def test_unknown_versions_and_malformed_entries_are_skipped() -> None:
    """v1a, v2, entries without a comma and undecodable v1 entries don't stop a match."""
    good = sign(OLD)
    signature = f"v2,{good[3:]} v1a,AAAA  garbage v1,not*base64 v1, {good}"
    assert verifier().verify(headers(signature), BODY) == MSG_ID


@pytest.mark.parametrize("case", [str.upper, str.title, str.lower])
def test_header_names_match_in_any_case_in_a_plain_dict(case: Callable[[str], str]) -> None:
    """A plain dict with upper-, title- or lower-case names verifies."""
    hdrs = {case(k): v for k, v in headers(sign(OLD)).items()}
    assert verifier().verify(hdrs, BODY) == MSG_ID


def test_starlette_headers_are_accepted() -> None:
    """Starlette's case-insensitive Headers, as the relay receives them, verify."""
    raw = [(k.title().encode(), v.encode()) for k, v in headers(sign(OLD)).items()]
    assert verifier().verify(Headers(raw=raw), BODY) == MSG_ID


@pytest.mark.parametrize("offset", [-240, 240, -300, 300])
def test_timestamp_within_five_minutes_is_accepted(offset: int) -> None:
    """A timestamp up to 5 minutes away from the clock, either way, is accepted."""
    hdrs = headers(sign(OLD, ts=NOW + offset), ts=NOW + offset)
    assert verifier().verify(hdrs, BODY) == MSG_ID


def test_from_env_reads_space_separated_secrets() -> None:
    """``from_env`` accepts deliveries signed with any secret in the variable's value."""
    v = WebhookVerifier.from_env(f"  {OLD}   {NEW} ", clock=Clock())
    assert v.verify(headers(sign(OLD)), BODY) == MSG_ID
    assert v.verify(headers(sign(NEW)), BODY) == MSG_ID
    assert repr(v) == "WebhookVerifier(2 secrets)"


# -- rejected ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tampered",
    [BODY.replace(b'"version": 7', b'"version": 8'), BODY + b" ", BODY[:-1], b""],
)
def test_tampered_body_is_rejected(tampered: bytes) -> None:
    """Any change to the signed body bytes, even whitespace, fails verification."""
    assert "no signature" in reason(verifier(), headers(sign(OLD)), tampered)


def test_wrong_secret_is_rejected() -> None:
    """A signature made with a secret that is not configured fails."""
    assert "no signature" in reason(verifier(OLD, NEW), headers(sign(OTHER)))


@pytest.mark.parametrize("field", ["msg_id", "ts"])
def test_signed_id_and_timestamp_cannot_be_swapped(field: str) -> None:
    """The id and timestamp are part of the signed content: changing either fails."""
    hdrs = headers(sign(OLD))
    hdrs["webhook-id" if field == "msg_id" else "webhook-timestamp"] = (
        "msg_other" if field == "msg_id" else str(NOW + 1)
    )
    assert "no signature" in reason(verifier(), hdrs)


@pytest.mark.parametrize(
    "signature", ["v2,AAAA", "v1a,AAAA", "garbage", "v1,***", "v1,", "v1,AAAA"]
)
def test_header_without_usable_v1_signature_is_rejected(signature: str) -> None:
    """Only unknown versions or malformed entries: the reason says there's no v1 signature."""
    assert reason(verifier(), headers(signature)) == (
        "webhook-signature has no well-formed v1 signature"
    )


@pytest.mark.parametrize("name", ["webhook-id", "webhook-timestamp", "webhook-signature"])
@pytest.mark.parametrize("empty", [False, True])
def test_missing_header_is_named(name: str, empty: bool) -> None:
    """A missing or empty signature header is rejected with a reason naming it."""
    hdrs = headers(sign(OLD))
    if empty:
        hdrs[name] = ""
    else:
        del hdrs[name]
    assert reason(verifier(), hdrs) == f"missing {name} header"


@pytest.mark.parametrize(
    ("offset", "word"), [(-360, "too old"), (-301, "too old"), (360, "too new"), (301, "too new")]
)
def test_timestamp_beyond_five_minutes_is_rejected(offset: int, word: str) -> None:
    """A correctly signed timestamp 6 minutes old or ahead is rejected, saying which."""
    hdrs = headers(sign(OLD, ts=NOW + offset), ts=NOW + offset)
    assert word in reason(verifier(), hdrs)


def test_tolerance_follows_the_injected_clock() -> None:
    """The same delivery passes, then fails once the clock moves 6 minutes on."""
    clock = Clock()
    v = WebhookVerifier([OLD], clock=clock)
    hdrs = headers(sign(OLD))
    assert v.verify(hdrs, BODY) == MSG_ID
    clock.now += 360
    with pytest.raises(SignatureError, match="too old"):
        v.verify(hdrs, BODY)


@pytest.mark.parametrize("ts", ["soon", "1716199200.0", "1.7e9", " 1716199200", "-5", "١٧١٦"])
def test_non_integer_timestamp_is_rejected(ts: str) -> None:
    """A timestamp that isn't plain ASCII decimal digits is rejected as such."""
    hdrs = headers(sign(OLD), ts=ts)
    assert reason(verifier(), hdrs) == "webhook-timestamp is not an integer Unix timestamp"


def test_absurdly_long_timestamp_is_rejected() -> None:
    """Digits beyond Python's int parsing limit give a reason, not a ValueError."""
    assert "not an integer" in reason(verifier(), headers(sign(OLD), ts="9" * 5000))


# -- configuration and secrecy -------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (base64.b64encode(b"k" * 32).decode(), "must start with 'whsec_'"),
        ("whsec_" + "%%%%" + OLD[6:], "not base64"),
        ("whsec_" + OLD[6:] + "!", "not base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "5 bytes"),
        ("whsec_", "0 bytes"),
    ],
)
def test_malformed_secret_is_named_by_position_not_value(bad: str, why: str) -> None:
    """A malformed configured secret raises ValueError naming its position, never its value."""
    with pytest.raises(ValueError, match="secret 2 of 3 is malformed") as info:
        WebhookVerifier([OLD, bad, NEW])
    message = str(info.value)
    assert why in message
    encoded = bad.removeprefix("whsec_")
    assert not encoded or encoded not in message


def test_unpadded_secret_is_accepted() -> None:
    """A secret whose base64 lost its ``=`` padding still decodes to the same key."""
    unpadded = "whsec_" + base64.b64encode(b"k" * 32).decode().rstrip("=")
    assert verifier(unpadded).verify(headers(sign(unpadded)), BODY) == MSG_ID


def test_no_secret_is_refused() -> None:
    """An empty secret list, or a blank variable, is a configuration error."""
    with pytest.raises(ValueError, match="TENANTOPS_WEBHOOK_SECRET"):
        WebhookVerifier([])
    with pytest.raises(ValueError, match="TENANTOPS_WEBHOOK_SECRET"):
        WebhookVerifier.from_env("  ")


def test_single_string_is_refused() -> None:
    """Passing one string instead of a list is caught, not split into characters."""
    with pytest.raises(TypeError, match="from_env"):
        WebhookVerifier(OLD)


def test_repr_and_errors_never_contain_a_secret() -> None:
    """Neither the repr nor any rejection reason shows a secret, its key or a signature."""
    v = verifier(OLD, NEW)
    assert repr(v) == "WebhookVerifier(2 secrets)"
    assert repr(verifier(OLD)) == "WebhookVerifier(1 secret)"
    expected = sign(OLD)
    reasons = [
        reason(v, headers(sign(OTHER))),
        reason(v, headers(expected), BODY + b"x"),
        reason(v, headers(expected, ts=NOW + 999)),
        reason(v, headers("v2,AAAA")),
    ]
    secret_parts = [OLD, NEW, OLD[6:], NEW[6:], expected, expected[3:]]
    for text in [repr(v), *reasons, *(repr(SignatureError(r)) for r in reasons)]:
        for part in secret_parts:
            assert part not in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"{OLD} {NEW}", [OLD, NEW]),
        (f"   {OLD}    {NEW}   ", [OLD, NEW]),
        (f"{OLD}\t{NEW}\n", [OLD, NEW]),
        (OLD, [OLD]),
        ("   ", []),
        ("", []),
    ],
)
def test_parse_secrets_ignores_extra_whitespace(value: str, expected: list[str]) -> None:
    """Secrets are split on any run of whitespace; blanks never become secrets."""
    assert parse_secrets(value) == expected
