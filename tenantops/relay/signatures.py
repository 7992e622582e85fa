"""Standard Webhooks signature verification for the deliveries Cognigy.AI sends the relay.

Owns the secret format (``whsec_`` + base64), the ``webhook-id``/``webhook-timestamp``/
``webhook-signature`` headers, the timestamp tolerance and the HMAC-SHA256 comparison,
as the Standard Webhooks specification defines them
(https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md).
Several secrets may be live at once so that one can be rotated without dropping
deliveries.

Pure: no I/O, and the clock is injected. It must not parse the body, deduplicate
deliveries by ``webhook-id`` (the relay does that) or log anything: a
:class:`SignatureError` carries a reason that is safe to send back to the sender, and
nothing derived from a secret or from an expected signature ever reaches it, an error
message or a ``repr``.

:class:`~tenantops.errors.SignatureError` is the relay's 401 answer to one request; it
sits in the error tree under ``RelayError`` and never escapes the relay's app.

The official ``standardwebhooks`` package is used by the tests, as the sender's
reference, but not here: its ``verify`` reads the wall clock itself (nothing to inject),
checks a single secret, decodes the body as UTF-8 and lets ``ValueError`` or
``binascii.Error`` escape on a malformed signature header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence

from tenantops.errors import SignatureError

__all__ = ["SECRETS_ENV_VAR", "SignatureError", "WebhookVerifier", "parse_secrets"]

#: The environment variable that holds the space-separated secrets.
SECRETS_ENV_VAR = "TENANTOPS_WEBHOOK_SECRET"

_PREFIX = "whsec_"
# The specification asks for random keys of 24 to 64 bytes. A shorter key is refused as
# too weak; a longer one is no weaker, so it is accepted.
_MIN_KEY_BYTES = 24
_ID, _TIMESTAMP, _SIGNATURE = "webhook-id", "webhook-timestamp", "webhook-signature"
_HEADERS = (_ID, _TIMESTAMP, _SIGNATURE)
_DIGEST_SIZE = hashlib.sha256().digest_size


def parse_secrets(value: str) -> list[str]:
    """Split the value of ``TENANTOPS_WEBHOOK_SECRET`` into its secrets.

    Args:
        value: Secrets separated by any run of whitespace; leading and trailing
            whitespace is ignored. Base64 never contains whitespace, so this is
            unambiguous.

    Returns:
        The secrets in their configured order, unvalidated (see
        :class:`WebhookVerifier`).
    """
    return value.split()


class WebhookVerifier:
    """Checks the Standard Webhooks signature of a delivery against one or more secrets.

    A signature valid under any configured secret is accepted, so that a new secret can
    be added before the sender switches to it and the old one removed after.

    Example::

        verifier = WebhookVerifier.from_env(os.environ[SECRETS_ENV_VAR])
        webhook_id = verifier.verify(request.headers, await request.body())
    """

    def __init__(
        self,
        secrets: Sequence[str],
        *,
        tolerance: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Decode and check every secret once, so that ``verify`` does no setup.

        Args:
            secrets: ``whsec_`` followed by the base64 of a key of at least 24 bytes.
            tolerance: How many seconds ``webhook-timestamp`` may differ from the
                clock, in either direction.
            clock: Returns the current Unix time in seconds.

        Raises:
            TypeError: ``secrets`` is a single string rather than a sequence.
            ValueError: No secret is given, one is malformed (named by its position,
                never its value), or ``tolerance`` is negative.
        """
        # A str is a Sequence[str] too: each character would be taken for a secret.
        if isinstance(secrets, str):
            raise TypeError("pass a list of secrets; use from_env() for a space-separated string")
        if not secrets:
            raise ValueError(f"no webhook secret configured: set {SECRETS_ENV_VAR}")
        if tolerance < 0:
            raise ValueError(f"tolerance must be zero or more seconds, not {tolerance}")
        keys = [_decode_secret(s, position=i, count=len(secrets)) for i, s in enumerate(secrets, 1)]
        # Keyed once here: copying a keyed HMAC skips hashing the key on every request.
        self._macs = tuple(hmac.new(key, digestmod=hashlib.sha256) for key in keys)
        self._tolerance = tolerance
        self._clock = clock

    @classmethod
    def from_env(
        cls,
        value: str,
        *,
        tolerance: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> WebhookVerifier:
        """A verifier for the secrets in the value of ``TENANTOPS_WEBHOOK_SECRET``.

        Args:
            value: Secrets separated by spaces (see :func:`parse_secrets`).
            tolerance: As for the constructor.
            clock: As for the constructor.

        Returns:
            A verifier for every secret in ``value``.

        Raises:
            ValueError: As for the constructor; an empty value has no secret.
        """
        return cls(parse_secrets(value), tolerance=tolerance, clock=clock)

    def __repr__(self) -> str:
        count = len(self._macs)
        return f"WebhookVerifier({count} secret{'' if count == 1 else 's'})"

    def verify(self, headers: Mapping[str, str], body: bytes) -> str:
        """Check that a delivery is signed by a configured secret, and recent.

        Args:
            headers: The request headers; names are matched case-insensitively.
            body: The raw body bytes exactly as received, before any decoding.

        Returns:
            The ``webhook-id``, by which the relay recognises a redelivery.

        Raises:
            SignatureError: A header is missing or empty, the timestamp is not an
                integer or outside the tolerance, the header has no ``v1`` signature,
                or no signature matches.
        """
        msg_id, timestamp, signature = _lookup(headers)
        self._check_timestamp(timestamp)
        candidates = _v1_signatures(signature)
        # Signed content per the spec: "<id>.<timestamp>.<body>", the body byte for byte.
        prefix = f"{msg_id}.{timestamp}.".encode()
        for base in self._macs:
            mac = base.copy()
            mac.update(prefix)
            mac.update(body)
            expected = mac.digest()
            if any(hmac.compare_digest(expected, c) for c in candidates):
                return msg_id
        raise SignatureError("no signature in webhook-signature matches a configured secret")

    def _check_timestamp(self, value: str) -> None:
        # isdigit() alone lets through non-ASCII digits, which int() would accept.
        if not (value.isascii() and value.isdigit()):
            raise SignatureError("webhook-timestamp is not an integer Unix timestamp")
        try:
            sent = int(value)
        except ValueError:  # more digits than sys.get_int_max_str_digits()
            raise SignatureError("webhook-timestamp is not an integer Unix timestamp") from None
        skew = sent - self._clock()
        if skew < -self._tolerance:
            raise SignatureError(
                f"webhook-timestamp is too old: more than {self._tolerance:g} s in the past"
            )
        if skew > self._tolerance:
            raise SignatureError(
                f"webhook-timestamp is too new: more than {self._tolerance:g} s in the future"
            )


def _decode_secret(secret: str, *, position: int, count: int) -> bytes:
    """The HMAC key inside a ``whsec_`` secret; errors name the position, not the value."""
    problem = f"webhook secret {position} of {count} is malformed"
    if not secret.startswith(_PREFIX):
        raise ValueError(f"{problem}: it must start with {_PREFIX!r}")
    encoded = secret.removeprefix(_PREFIX)
    try:
        # Padding is optional in the secrets some senders hand out: restore it, and
        # reject any character outside the base64 alphabet rather than skip it.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{problem}: the part after {_PREFIX!r} is not base64") from None
    if len(key) < _MIN_KEY_BYTES:
        raise ValueError(f"{problem}: its key is {len(key)} bytes, the minimum is {_MIN_KEY_BYTES}")
    return key


def _lookup(headers: Mapping[str, str]) -> tuple[str, str, str]:
    """The id, timestamp and signature headers, matched case-insensitively."""
    # Starlette's Headers already matches any case, and so does a dict with
    # lower-case names: fold the names only when a plain lookup misses.
    values = tuple(headers.get(name) for name in _HEADERS)
    if not all(values):
        folded = {k.lower(): v for k, v in headers.items()}
        values = tuple(folded.get(name) for name in _HEADERS)
    msg_id, timestamp, signature = values
    if not msg_id:
        raise SignatureError(f"missing {_ID} header")
    if not timestamp:
        raise SignatureError(f"missing {_TIMESTAMP} header")
    if not signature:
        raise SignatureError(f"missing {_SIGNATURE} header")
    return msg_id, timestamp, signature


def _v1_signatures(header: str) -> list[bytes]:
    """The decoded ``v1`` signatures in ``webhook-signature``; other entries are skipped."""
    found: list[bytes] = []
    for entry in header.split():
        version, _, encoded = entry.partition(",")
        # Unknown versions (v1a is asymmetric, later ones are future schemes) are not
        # ours to judge; a v1 entry that isn't base64 of a SHA-256 digest cannot match.
        if version != "v1":
            continue
        try:
            decoded = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(decoded) == _DIGEST_SIZE:
            found.append(decoded)
    if not found:
        raise SignatureError("webhook-signature has no well-formed v1 signature")
    return found
