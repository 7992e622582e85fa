"""The data tenantops reasons about: bot models, tenants, templates and the project config.

Pure: no I/O. A bot model travels through the core as a plain JSON document
(:data:`BotDoc`) because rendering, schema checks, hashing and diffing all work on
JSON; :class:`BotModel` checks that a document has the contract's shape at the edges
(API answers, base files, simulator requests). Config models are pydantic, frozen and
strict, with the camelCase keys users write in YAML.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

__all__ = [
    "ALL_SCOPES",
    "NAME_PATTERN",
    "PROJECT_ID_PATTERN",
    "ApiConfig",
    "BaseRef",
    "BotDoc",
    "BotModel",
    "Dialog",
    "Entity",
    "Flavor",
    "Intent",
    "ProjectConfig",
    "RateLimit",
    "RoleAssignment",
    "RoleGrant",
    "SnapshotSettings",
    "TemplateSpec",
    "Tenant",
    "TenantParams",
    "canonical_json",
    "is_name",
    "is_project_id",
    "model_sha256",
    "shape_problem",
]

#: A bot model as a JSON document (the contract's shape, checked by :class:`BotModel`).
BotDoc: TypeAlias = dict[str, Any]

#: Every scope of the contract; the default request of a config that names none.
ALL_SCOPES: tuple[str, ...] = (
    "bot:export",
    "bot:deploy",
    "deployment:read",
    "user:role:assign",
    "tenant:provision",
    "audit:write",
    "session:read",
    "session:write",
)

# --------------------------------------------------------------------------- bot model


class _Item(BaseModel):
    # Servers may add fields the contract does not name; keep them rather than drop them.
    model_config = ConfigDict(frozen=True, extra="allow")


class Intent(_Item):
    """An intent, identified by ``name``; ``examples`` is a set, ``actions`` a sequence."""

    name: str = Field(min_length=1)
    examples: list[str] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=list)


class Entity(_Item):
    """An entity, identified by ``name``; ``values`` and each synonym list are sets."""

    name: str = Field(min_length=1)
    values: list[str] = Field(default_factory=list)
    synonyms: dict[str, list[str]] = Field(default_factory=dict)


class Dialog(_Item):
    """A dialog node, identified by ``id``."""

    id: str = Field(min_length=1)
    node: str
    next: str | None = None


class BotModel(_Item):
    """The contract's bot model; ``version`` and ``metadata.exportedAt`` belong to the server."""

    bot_id: str = Field(alias="botId", min_length=1)
    version: str | None = None
    intents: list[Intent] = Field(default_factory=list)
    entities: list[Entity] = Field(default_factory=list)
    dialogs: list[Dialog] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)

    @model_validator(mode="after")
    def _keys_are_unique(self) -> BotModel:
        for kind, key, items in (
            ("intent", "name", self.intents),
            ("entity", "name", self.entities),
            ("dialog", "id", self.dialogs),
        ):
            seen: set[str] = set()
            for item in items:
                value = getattr(item, key)
                if value in seen:
                    raise ValueError(f"duplicate {kind} {key} {value!r}")
                seen.add(value)
        return self


def shape_problem(doc: Any) -> str | None:
    """A fast check that ``doc`` has what tenantops relies on; ``None`` when it does.

    Keyed lists must hold objects with a string key, unique within the list, and
    ``metadata`` must be an object. About 50x cheaper than :class:`BotModel`, so the
    client runs it on every export and asks :class:`BotModel` only to explain a failure.
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("botId"), str) or not doc["botId"]:
        return "botId must be a non-empty string"
    for kind, key in ITEM_KEYS.items():
        items = doc.get(kind, [])
        if not isinstance(items, list):
            return f"{kind} must be a list"
        seen: set[str] = set()
        for index, item in enumerate(items):
            value = item.get(key) if isinstance(item, dict) else None
            if not isinstance(value, str) or not value:
                return f"{kind}/{index} needs a string '{key}'"
            if value in seen:
                return f"{kind} has '{value}' twice"
            seen.add(value)
    if not isinstance(doc.get("metadata", {}), dict):
        return "metadata must be an object"
    return None


#: Lists whose order carries no meaning: sorted in canonical form and ignored by diff.
SET_VALUED: Mapping[str, frozenset[str]] = {
    "intents": frozenset({"examples"}),
    "entities": frozenset({"values"}),
}
#: The key that identifies an item in each keyed list of the model.
ITEM_KEYS: Mapping[str, str] = {"intents": "name", "entities": "name", "dialogs": "id"}


def _canonical_item(kind: str, item: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(item)
    for field in SET_VALUED.get(kind, ()):
        if isinstance(out.get(field), list):
            out[field] = sorted(out[field], key=_sort_key)
    if kind == "entities" and isinstance(out.get("synonyms"), dict):
        out["synonyms"] = {
            k: sorted(v, key=_sort_key) if isinstance(v, list) else v
            for k, v in out["synonyms"].items()
        }
    return out


def _sort_key(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def canonicalize(doc: Mapping[str, Any]) -> BotDoc:
    """Return ``doc`` with keyed items sorted by key and set-valued lists sorted.

    Two models that differ only in order canonicalize to the same document.
    """
    out: BotDoc = dict(doc)
    for kind, key in ITEM_KEYS.items():
        items = doc.get(kind)
        if isinstance(items, list):
            out[kind] = sorted(
                (_canonical_item(kind, i) for i in items),
                key=lambda i, k=key: str(i.get(k, "")),  # type: ignore[misc]
            )
    return out


def canonical_json(doc: Mapping[str, Any]) -> str:
    """The model's canonical JSON text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(canonicalize(doc), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def model_sha256(doc: Mapping[str, Any]) -> str:
    """Content hash of a model, blind to order and to server-owned fields.

    ``version`` and ``metadata.exportedAt`` are dropped first, so a live export and the
    desired model it came from hash alike.
    """
    content = dict(doc)
    content.pop("version", None)
    metadata = content.get("metadata")
    if isinstance(metadata, dict) and "exportedAt" in metadata:
        content["metadata"] = {k: v for k, v in metadata.items() if k != "exportedAt"}
    text = json.dumps(canonicalize(content), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- config


class _Config(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        hide_input_in_errors=True,
    )


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(ms|s|m|h)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class RateLimit(BaseModel):
    """A request quota such as ``1000/5m``: ``requests`` per ``period`` seconds."""

    model_config = ConfigDict(frozen=True)

    requests: int = Field(gt=0)
    period: float = Field(gt=0)

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Parse ``N/PERIOD`` where PERIOD is ``[count](ms|s|m|h)``, e.g. ``1000/5m``."""
        match = _RATE.match(text)
        if not match:
            raise ValueError(f"rate limit {text!r} is not like '1000/5m' (N/PERIOD)")
        count, amount, unit = match.groups()
        return cls(requests=int(count), period=float(amount or 1) * _UNIT_SECONDS[unit])

    def __str__(self) -> str:
        return f"{self.requests}/{self.period:g}s"


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("must be an http:// or https:// URL")
    return value


#: The platform APIs tenantops speaks: the seeds' contract, and the real Cognigy.AI v2.0.
Flavor = Literal["contract", "cognigy-v2"]


class SnapshotSettings(_Config):
    """``api.snapshots`` (cognigy-v2): how many ``tenantops-`` backups a project keeps."""

    # The platform caps a project at 10 snapshots; one slot stays free for the next backup.
    keep: int = Field(default=3, ge=1, le=9)


class ApiConfig(_Config):
    """``api:`` in tenantops.yaml; unset values fall back to the environment (see config)."""

    flavor: Flavor = "contract"
    base_url: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    api_key: SecretStr | None = None
    tenant_id: str | None = None
    scopes: tuple[str, ...] = ALL_SCOPES
    rate_limit: RateLimit | None = None
    snapshots: SnapshotSettings = Field(default_factory=SnapshotSettings)
    task_timeout: float = Field(default=600.0, gt=0)

    @field_validator("rate_limit", mode="before")
    @classmethod
    def _parse_rate(cls, value: Any) -> Any:
        return RateLimit.parse(value) if isinstance(value, str) else value

    @field_validator("base_url", "token_url")
    @classmethod
    def _is_http_url(cls, value: str | None) -> str | None:
        return _http_url(value).rstrip("/") if value else value


class ProjectConfig(_Config):
    """``tenantops.yaml`` at the config root."""

    api: ApiConfig = Field(default_factory=ApiConfig)
    defaults: dict[str, Any] = Field(default_factory=dict)
    lockfile: str = "tenantops.lock"
    audit: str = "audit/"


_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


class TenantParams(_Config):
    """The typed tenant parameters, written into the model's ``metadata`` by rendering."""

    webhook_url: str | None = None
    lang_code: str | None = None
    env_prefix: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
    max_retries: int | None = Field(default=None, ge=0, le=100)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_is_url(cls, value: str | None) -> str | None:
        return _http_url(value) if value is not None else None

    @field_validator("lang_code")
    @classmethod
    def _lang_is_bcp47(cls, value: str | None) -> str | None:
        if value is not None and not _LANG.match(value):
            raise ValueError("must be a language tag such as en-US or de-DE")
        return value


class RoleAssignment(_Config):
    """One managed role: ``userId`` holds ``roleId`` in the tenant's workspace."""

    user_id: str = Field(min_length=1)
    role_id: str = Field(min_length=1)
    expires_at: datetime | None = None

    @field_validator("expires_at")
    @classmethod
    def _has_timezone(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a timezone, e.g. 2027-01-31T00:00:00Z")
        return value


#: A tenant or template name: it becomes a file name (tenant file, lease, audit trail),
#: so nothing that could leave its folder.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_NAME_RE = re.compile(NAME_PATTERN)


def is_name(text: str) -> bool:
    """Whether ``text`` is a valid tenant or template name (see :data:`NAME_PATTERN`)."""
    return _NAME_RE.match(text) is not None


#: A Cognigy.AI v2.0 project id: a workspace on cognigy-v2, and ``base.projectId``.
PROJECT_ID_PATTERN = r"^[0-9a-f]{24}$"
_PROJECT_ID_RE = re.compile(PROJECT_ID_PATTERN)


def is_project_id(text: object) -> bool:
    """Whether ``text`` is a Cognigy.AI project id (see :data:`PROJECT_ID_PATTERN`)."""
    return isinstance(text, str) and _PROJECT_ID_RE.match(text) is not None


class Tenant(_Config):
    """``tenants/<name>.yaml`` after env interpolation and ``defaults`` merged under it."""

    name: str = Field(pattern=NAME_PATTERN)
    workspace: str = Field(min_length=1)
    template: str = Field(pattern=NAME_PATTERN)
    params: TenantParams = Field(default_factory=TenantParams)
    vars: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, SecretStr] = Field(default_factory=dict)
    # None: roles are not managed. An empty list: manage them, and keep none.
    roles: tuple[RoleAssignment, ...] | None = None

    @model_validator(mode="after")
    def _unique_role_users(self) -> Tenant:
        users = [r.user_id for r in self.roles or ()]
        duplicates = sorted({u for u in users if users.count(u) > 1})
        if duplicates:
            raise ValueError(f"roles list user {duplicates[0]!r} more than once")
        return self

    def secret_values(self) -> frozenset[str]:
        """Every secret's plain value, for redaction."""
        return frozenset(
            s.get_secret_value() for s in self.secrets.values() if s.get_secret_value()
        )


class BaseRef(_Config):
    """Where a template's base model comes from: a file in the repo, or a bot to export.

    ``botId`` (with an optional ``workspaceId``) exports from the contract API;
    ``projectId`` exports the template's flow from a source project on Cognigy.AI v2.0.
    """

    file: str | None = None
    bot_id: str | None = None
    workspace_id: str | None = None
    project_id: str | None = Field(default=None, pattern=PROJECT_ID_PATTERN)

    @model_validator(mode="after")
    def _one_source(self) -> BaseRef:
        sources = [s for s in (self.file, self.bot_id, self.project_id) if s is not None]
        if len(sources) != 1:
            raise ValueError(
                "base needs exactly one of 'file' or 'botId' (or 'projectId' on cognigy-v2)"
            )
        if self.workspace_id is not None and self.bot_id is None:
            raise ValueError("'workspaceId' goes with 'botId'")
        return self

    @property
    def export_source(self) -> tuple[str, str | None] | None:
        """``(bot, workspace)`` to export the base from, or ``None`` for a base file."""
        if self.project_id is not None:
            return "", self.project_id
        if self.bot_id is not None:
            return self.bot_id, self.workspace_id
        return None


class TemplateSpec(_Config):
    """``templates/<name>/template.yaml``."""

    base: BaseRef
    overrides: str = "overrides.yaml.j2"
    schema_file: str = Field(default="schema.json", alias="schema")
    description: str = ""
    #: cognigy-v2: the flow tenantops manages in each project (others are never touched).
    flow: str = Field(default="Main", min_length=1)
    #: JSON-pointer-like paths whose differences plan ignores (Terraform's ignore_changes).
    ignore_changes: tuple[str, ...] = ()


class Overrides(BaseModel):
    """The document a tenant's overrides template renders to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    intents: list[Intent] = Field(default_factory=list)
    entities: list[Entity] = Field(default_factory=list)
    dialogs: list[Dialog] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    remove: RemoveSpec = Field(default_factory=lambda: RemoveSpec())


class RemoveSpec(BaseModel):
    """``remove:`` in overrides: keys of base items to drop."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    intents: list[str] = Field(default_factory=list)
    entities: list[str] = Field(default_factory=list)
    dialogs: list[str] = Field(default_factory=list)


Overrides.model_rebuild()

RoleAction: TypeAlias = Literal["assign", "revoke"]


class RoleGrant(BaseModel):
    """A role a user holds in a workspace, as the platform reports it."""

    # An API answer: tolerate fields a server adds.
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    user_id: str = Field(alias="userId")
    role_id: str = Field(alias="roleId")
    expires_at: datetime | None = Field(default=None, alias="expiresAt")
