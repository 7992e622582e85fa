"""Every exception tenantops raises, in one module so that no import cycle can form.

Each dependency's exceptions are translated into these at exactly one place
(ruamel/pydantic in ``config.source``, jinja2 in ``core.render``, jsonschema in
``core.schema``, httpx/aiohttp's "no answer" in ``backends.no_answer``, statuses in
``backends.contract.status``, the v2.0 API's problems in ``backends.cognigy_v2.http``,
redis in ``redis_errors``). Facts travel
as attributes; messages say what to do next. Only the CLI catches broadly: it prints
the error (unless the command already showed it in full) and exits with ``exit_code``.

::

    TenantOpsError
    ├── ConfigError (path, line, pointer, tenant_file, blocks)
    │   ├── SchemaError      rendered model breaks the template's JSON Schema
    │   └── TemplateError    Jinja syntax/undefined/sandbox errors, bad overrides
    ├── ValidationFailed     several ConfigErrors at once (validate, render)
    ├── DifferencesFound     plan or drift found changes: exit code 2, not a failure
    ├── PlanError            a tenant could not be planned or checked; a bad plan file
    │   └── StalePlanError   config or live bot changed since the plan: plan again
    ├── ApplyError (plan_id, completed, failed)
    ├── ApiError (attempts, retry_seconds)
    │   ├── TransportError (reason, address) ── ApiTimeoutError
    │   ├── AuthError        the token endpoint refused the client
    │   ├── TaskFailedError (task)  a Cognigy.AI task ended in error, was cancelled or timed out
    │   └── ApiStatusError (status, code, request_id)
    │       ├── BadRequestError, UnauthorizedError, ForbiddenError (scope)
    │       ├── NotFoundError, ConflictError (current_version)
    │       ├── PreconditionRequiredError, UnprocessableError (details)
    │       └── RateLimitedError (retry_after), ServerError
    ├── StateError (unavailable), LockfileError
    ├── AuditError           an audit trail cannot be written, read, or is broken
    └── RelayError ── SignatureError (reason)
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

__all__ = [
    "ApiError",
    "ApiStatusError",
    "ApiTimeoutError",
    "ApplyError",
    "AuditError",
    "AuthError",
    "BadRequestError",
    "ConfigError",
    "ConflictError",
    "DifferencesFound",
    "ErrorDetail",
    "ForbiddenError",
    "LockfileError",
    "NotFoundError",
    "PlanError",
    "PreconditionRequiredError",
    "RateLimitedError",
    "RelayError",
    "SchemaError",
    "ServerError",
    "SignatureError",
    "StalePlanError",
    "StateError",
    "TaskFailedError",
    "TemplateError",
    "TenantOpsError",
    "TransportError",
    "UnauthorizedError",
    "UnprocessableError",
    "ValidationFailed",
]


class TenantOpsError(Exception):
    """Base of every error tenantops raises on purpose.

    Attributes:
        exit_code: the CLI's exit status for this error (click's pattern).
        shown: the command already showed the user everything this error says, so the
            CLI's handler only exits with ``exit_code`` (see :meth:`already_shown`).
    """

    exit_code: ClassVar[int] = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.shown = False

    def already_shown(self) -> Self:
        """Mark the error as reported in full by the command that raises it."""
        self.shown = True
        return self

    def __str__(self) -> str:
        return self.message


# --------------------------------------------------------------------------- config


class ConfigError(TenantOpsError):
    """A config file, template or rendered model is wrong at a known place.

    Attributes:
        path: the file at fault, when known.
        line: 1-based line in ``path``, when known.
        pointer: JSON pointer into the document (``/params/maxRetries``), when known.
        tenant: the tenant whose config failed, when known.
        tenant_file: the tenant file whose values made a shared template fail, so that a
            fleet's report names which tenant to fix, not only the template line.
        blocks: the tenants an error in a shared file keeps from rendering at all.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        pointer: str | None = None,
        tenant: str | None = None,
        tenant_file: Path | str | None = None,
    ) -> None:
        super().__init__(message)
        self.path = Path(path) if path is not None else None
        self.line = line
        self.pointer = pointer
        self.tenant = tenant
        self.tenant_file = Path(tenant_file) if tenant_file is not None else None
        self.blocks: tuple[str, ...] = ()

    @property
    def location(self) -> str:
        """``file:line`` (or as much of it as is known); empty when no file is at fault."""
        if self.path is None:
            return f"tenant {self.tenant}" if self.tenant else ""
        return f"{self.path}:{self.line}" if self.line else str(self.path)

    @property
    def blocked_note(self) -> str:
        """`` (blocks 3 tenant(s): a, b, c)`` for an error in a shared file, else empty."""
        if not self.blocks:
            return ""
        shown = ", ".join(self.blocks[:_BLOCKS_SHOWN])
        hidden = len(self.blocks) - _BLOCKS_SHOWN
        more = f" and {hidden} more" if hidden > 0 else ""
        return f" (blocks {len(self.blocks)} tenant(s): {shown}{more})"

    def blocking(self, tenants: Sequence[str]) -> ConfigError:
        """A copy of this error that names the ``tenants`` it keeps from rendering."""
        blocked = copy.copy(self)
        blocked.blocks = tuple(tenants)
        return blocked

    def __str__(self) -> str:
        where = f" at {self.pointer}" if self.pointer and not self.line else ""
        parts = [self.location] if self.location else []
        if self.tenant_file is not None and self.tenant_file != self.path:
            parts.insert(0, str(self.tenant_file))
        return ": ".join([*parts, f"{self.message}{where}{self.blocked_note}"])


#: How many blocked tenants a shared file's error names before it says "and N more".
_BLOCKS_SHOWN = 5


class SchemaError(ConfigError):
    """The rendered bot model does not pass the template's JSON Schema."""


class TemplateError(ConfigError):
    """A Jinja template failed to compile or render, or rendered an invalid overrides file."""


class ValidationFailed(TenantOpsError):
    """Several config errors found in one pass; ``errors`` holds them all, in file order."""

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        count = len(errors)
        super().__init__(f"{count} error{'s' if count != 1 else ''} in the config repo")
        self.errors = list(errors)


# --------------------------------------------------------------------------- plan / apply


class DifferencesFound(TenantOpsError):
    """``plan`` or ``drift`` found differences: Terraform's exit code 2, not a failure."""

    exit_code: ClassVar[int] = 2


class PlanError(TenantOpsError):
    """A plan cannot be built or used: a tenant failed to plan, or a bad plan file."""


class StalePlanError(PlanError):
    """The live model or the config changed since the plan was made: plan again."""


class ApplyError(TenantOpsError):
    """Applying a plan did not finish for every tenant.

    Attributes:
        plan_id: the plan that was applied.
        completed: tenants applied (or already up to date).
        failed: tenants that failed, were rolled back, refused as stale or locked.
    """

    def __init__(
        self,
        message: str,
        *,
        plan_id: str | None = None,
        completed: Sequence[str] = (),
        failed: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.plan_id = plan_id
        self.completed = list(completed)
        self.failed = list(failed)


# --------------------------------------------------------------------------- API


class ApiError(TenantOpsError):
    """Talking to the Cognigy.AI API failed.

    Attributes:
        attempts: how many times the call was tried before this error was final.
        retry_seconds: seconds from the first try to giving up.
    """

    attempts: int = 1
    retry_seconds: float = 0.0

    def after_retries(self, attempts: int, seconds: float) -> Self:
        """Record that the call was given up after ``attempts`` tries over ``seconds``.

        With more than one try, the message starts with ``gave up after 5 attempts over
        12.3 s:`` so that the last failure, which is the rest of it, reads as the cause.
        """
        if attempts > 1 and self.attempts == 1:
            self.message = f"gave up after {attempts} attempts over {seconds:.1f} s: {self.message}"
        self.attempts = max(self.attempts, attempts)
        self.retry_seconds = max(self.retry_seconds, seconds)
        return self


class TransportError(ApiError):
    """The request never got an HTTP answer (connection refused or reset, DNS, TLS).

    Attributes:
        reason: ``refused``, ``timeout``, ``dns`` or ``failed`` (anything else), when known.
        address: the ``host:port`` the request went to, when known.
    """

    def __init__(
        self, message: str, *, reason: str | None = None, address: str | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.address = address


class ApiTimeoutError(TransportError):
    """The request, or the whole retry budget, ran out of time."""


class AuthError(ApiError):
    """The token endpoint refused the client credentials or the scopes asked for."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class TaskFailedError(ApiError):
    """A platform task (training, snapshot, restore) ended in ``error`` or ``cancelled``,
    or outlived its deadline; ``task`` is its last state (``failReason``...)."""

    def __init__(self, message: str, *, task: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.task = task or {}


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One entry of an API error's ``details``: where (JSON pointer) and what."""

    path: str
    message: str


class ApiStatusError(ApiError):
    """The API answered with a non-2xx status.

    Attributes:
        status: HTTP status code.
        code: the ``error`` field of the body (``version_conflict``, ``insufficient_scope``...).
        request_id: the server's request id header, for support tickets.
        method: HTTP method of the failed call.
        url: the URL path of the failed call (never carries secrets).
        body: the decoded error body, when it was JSON.
        retry_after: seconds the server asked to wait (``Retry-After``), when it did.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        request_id: str | None = None,
        method: str | None = None,
        url: str | None = None,
        body: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status
        self.code = code
        self.request_id = request_id
        self.method = method
        self.url = url
        self.body = body or {}


class BadRequestError(ApiStatusError):
    """400: the request was malformed; a client bug or an unsupported server."""


class UnauthorizedError(ApiStatusError):
    """401 even after a fresh token: check the client id and secret."""


class ForbiddenError(ApiStatusError):
    """403: the token lacks ``scope``, or the workspace is not the token's."""

    def __init__(self, message: str, *, scope: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.scope = scope


class NotFoundError(ApiStatusError):
    """404: unknown bot, deployment, workspace or session."""


class ConflictError(ApiStatusError):
    """409: the session version moved; ``current_version`` is the server's."""

    def __init__(self, message: str, *, current_version: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.current_version = current_version


class PreconditionRequiredError(ApiStatusError):
    """428: a conditional request was sent without ``If-Match``."""


class UnprocessableError(ApiStatusError):
    """422: well-formed but invalid; ``details`` lists JSON pointers and messages."""

    def __init__(self, message: str, *, details: Sequence[ErrorDetail] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.details = list(details)


class RateLimitedError(ApiStatusError):
    """429 after every retry; ``retry_after`` is the server's last hint in seconds."""


class ServerError(ApiStatusError):
    """5xx after every retry."""


# --------------------------------------------------------------------------- state


class StateError(TenantOpsError):
    """Session state in Redis could not be read or written.

    Attributes:
        unavailable: Redis did not answer (down, unreachable, failing over): retry later.
    """

    def __init__(self, message: str, *, unavailable: bool = False) -> None:
        super().__init__(message)
        self.unavailable = unavailable


class LockfileError(TenantOpsError):
    """The lockfile is unreadable or a tenant lock cannot be taken."""


class AuditError(TenantOpsError):
    """An audit trail cannot be written or read, or its hash chain is broken."""


class RelayError(TenantOpsError):
    """The session relay cannot start or serve (bad settings, secrets or Redis URL)."""


class SignatureError(RelayError):
    """A delivery whose signature headers do not prove it came from the sender.

    The relay answers it with 401 and the reason; it never propagates further.

    Attributes:
        reason: What was wrong, safe to show to the sender: it names headers and
            limits, never a secret or the signature that was expected.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
