"""Request bodies of the v2.0 routes, as pydantic models (camelCase on the wire).

Unknown fields are refused (400, code 1005), a missing required field answers 400
with code 1000. A model's ``changes()`` gives the fields a PATCH actually sent, so an
update never resets what the caller left out. Nothing here touches the store.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from tenantops.servers.sim.cognigy_v2._chart import Mode

__all__ = [
    "BatchBody",
    "EntryBatchBody",
    "EntryCreate",
    "EntryPatch",
    "FlowCreate",
    "FlowPatch",
    "InjectBody",
    "IntentCreate",
    "IntentPatch",
    "KeyphraseBody",
    "KeyphraseRef",
    "LexiconCreate",
    "LexiconPatch",
    "MemberBody",
    "MoveBody",
    "NodeCreate",
    "NodePatch",
    "ProjectCreate",
    "ProjectPatch",
    "RestoreBody",
    "RoleBody",
    "SentenceCreate",
    "SentencePatch",
    "SnapshotCreateBody",
    "TrainBody",
]

_Name = Field(min_length=1, max_length=200)


class Body(BaseModel):
    """A request body: camelCase, no unknown fields."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    def changes(self, *, exclude: set[str] | None = None) -> dict[str, Any]:
        """The fields the caller sent, camelCase, minus ``exclude`` (Python names)."""
        return self.model_dump(by_alias=True, exclude_unset=True, exclude=exclude)


class ProjectCreate(Body):
    """``POST projects``: the project and its primary locale's NLU language."""

    name: str = _Name
    locale: str = Field(default="en-US", min_length=2)
    description: str = ""
    color: str | None = None


class ProjectPatch(Body):
    """``PATCH projects/{p}``."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    color: str | None = None


class FlowCreate(Body):
    """``POST flows``: a new flow (with an empty chart) in a project."""

    project_id: str
    name: str = _Name
    description: str = ""


class FlowPatch(Body):
    """``PATCH flows/{f}``; ``context`` replaces the flow's default context."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    context: dict[str, Any] | None = None
    tags: list[str] | None = None
    locale_id: str | None = None


class _IntentFields(Body):
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    is_reject_intent: bool = False
    is_disabled: bool = False
    data: dict[str, Any] = Field(default_factory=dict)
    condition: str = ""
    rules: list[str] = Field(default_factory=list)
    confirmation_sentences: list[str] = Field(default_factory=list)
    disambiguation_sentence: str = ""
    analytics_label: str | None = None
    parent_intent_id: str | None = None
    locale_reference: str | None = None
    locale_id: str | None = None


class IntentCreate(_IntentFields):
    """``POST flows/{f}/intents``, and a batch ``create`` value."""

    name: str = _Name


class IntentPatch(_IntentFields):
    """``PATCH flows/{f}/intents/{i}``, and a batch ``update`` value.

    ``localeId`` is optional: the client's type requires it, the documentation's
    example omits it; without it the project's primary locale is meant.
    """

    name: str | None = Field(default=None, min_length=1, max_length=200)


class BatchOperation(Body):
    """One batch operation: ``create`` takes ``value``, ``update`` ``id`` and ``value``,
    ``delete`` ``id``."""

    op: Literal["create", "update", "delete"]
    id: str | None = None
    value: dict[str, Any] | None = None


class BatchBody(Body):
    """``PATCH`` of a collection: ``{operations: [...]}``."""

    operations: list[BatchOperation] = Field(min_length=1, max_length=1000)


class EntryBatchOperation(Body):
    """A lexicon-entry batch operation; ``addKeyphrase`` takes ``{id, value: {value}}``,
    ``removeKeyphrase`` ``{id, value: {keyphraseId}}``."""

    op: Literal["create", "update", "delete", "addKeyphrase", "removeKeyphrase"]
    id: str | None = None
    value: dict[str, Any] | None = None


class EntryBatchBody(Body):
    """``PATCH lexicons/{l}/entries``."""

    operations: list[EntryBatchOperation] = Field(min_length=1, max_length=1000)


class TrainBody(Body):
    """``POST flows/{f}/intents/train``."""

    locale_id: str | None = None
    mode: Literal["full", "quick"] = "full"


class SentenceCreate(Body):
    """``POST .../sentences``, and a batch ``create`` value."""

    text: str = Field(min_length=1, max_length=2000)
    slots: list[dict[str, Any]] = Field(default_factory=list)
    locale_id: str | None = None


class SentencePatch(Body):
    """``PATCH .../sentences/{s}``, and a batch ``update`` value."""

    text: str | None = Field(default=None, min_length=1, max_length=2000)
    slots: list[dict[str, Any]] | None = None
    locale_id: str | None = None


class LexiconCreate(Body):
    """``POST lexicons``."""

    project_id: str
    name: str = _Name
    description: str = ""


class LexiconPatch(Body):
    """``PATCH lexicons/{l}``."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None


class EntryCreate(Body):
    """``POST lexicons/{l}/entries``; ``data`` is a JSON *string*, as on Cognigy."""

    main_keyphrase: str = Field(min_length=1, max_length=500)
    data: str = "{}"
    slot_references: list[str] = Field(default_factory=list)


class EntryPatch(Body):
    """``PATCH lexicons/{l}/entries/{e}``, and a batch ``update`` value."""

    main_keyphrase: str | None = Field(default=None, min_length=1, max_length=500)
    data: str | None = None
    slot_references: list[str] | None = None


class KeyphraseBody(Body):
    """``POST .../keyphrases`` and ``PATCH lexicons/{l}/keyphrases/{k}``."""

    value: str = Field(min_length=1, max_length=500)


class KeyphraseRef(Body):
    """The value of a batch ``removeKeyphrase``: ``{keyphraseId}``."""

    keyphrase_id: str


class NodeCreate(Body):
    """``POST flows/{f}/chart/nodes``: the node, and where to put it."""

    type: str = Field(min_length=1)
    label: str = ""
    comment: str = ""
    comment_color: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    analytics_label: str | None = None
    is_disabled: bool = False
    extension: str = "@cognigy/basic-nodes"
    locale_id: str | None = None
    mode: Mode = "append"
    target: str
    position: int | None = Field(default=None, ge=0)


class NodePatch(Body):
    """``PATCH flows/{f}/chart/nodes/{n}``; a node's ``type`` never changes."""

    label: str | None = None
    comment: str | None = None
    comment_color: str | None = None
    config: dict[str, Any] | None = None
    is_disabled: bool | None = None
    analytics_label: str | None = None
    locale_id: str | None = None


class MoveBody(Body):
    """``POST flows/{f}/chart/nodes/{n}/move``."""

    mode: Mode
    target: str
    position: int | None = Field(default=None, ge=0)


class SnapshotCreateBody(Body):
    """``POST snapshots``."""

    project_id: str
    name: str = _Name
    description: str = ""


class RestoreBody(Body):
    """``POST snapshots/{s}/restore``: the documentation requires ``projectId``, and so do we."""

    project_id: str


class MemberBody(Body):
    """``POST projects/{p}/addprojectmember`` and ``removeprojectmember``."""

    user_id: str


class RoleBody(Body):
    """``POST projects/{p}/members/{u}/addroletomember`` and ``removerolefrommember``."""

    role: str = Field(min_length=1)


class InjectBody(Body):
    """``POST sessions/{s}/context/inject``."""

    user_id: str = Field(min_length=1)
    context: dict[str, Any]
