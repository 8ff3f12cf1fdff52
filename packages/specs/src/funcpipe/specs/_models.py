"""The spec models: a pipeline as pure data (ids, versions, params, policies)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ._ids import ID_PATTERN
from ._json import canonical_json, check_json, check_text
from ._policy_data import POLICY_KINDS, PolicyKind, normalize_policy_data
from ._secrets import check_no_plain_secrets

OpKind = Literal["Map", "FlatMap", "BatchMap", "Sink"]
ErrorPolicy = Literal["collect", "drop", "fail_fast"]

Ident = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""A registry id or policy name: letters, digits and ``_ . : / -``, at most 128 chars."""


def _text(value: str) -> str:
    check_text(value, "text")
    return value


Name = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_text)]
Version = Annotated[str, StringConstraints(max_length=128), AfterValidator(_text)]

PolicySlot: TypeAlias = str | dict[str, JsonValue] | None
"""A policy given inline (its dict form) or by the name of an entry of PipelineSpec.policies."""

JsonObject: TypeAlias = dict[str, JsonValue]

_OPTIONAL_KINDS: tuple[PolicyKind, ...] = ("retry_budget", "circuit_breaker")


def _plain_data(value: JsonObject, info: ValidationInfo) -> JsonObject:
    where = info.field_name or "data"
    check_json(value, where)
    check_no_plain_secrets(value, where)
    return value


DataObject = Annotated[JsonObject, AfterValidator(_plain_data)]
"""Portable JSON data (errors name the field) where secrets appear only as references."""


class _SpecModel(BaseModel):
    model_config: ClassVar[ConfigDict] = ConfigDict(extra="forbid", frozen=True, strict=True)

    def __hash__(self) -> int:
        return hash(canonical_json(self.model_dump(mode="json")))


class NamedPolicy(_SpecModel):
    """A policy shared by name: its kind and its dict form (validated by building it)."""

    kind: PolicyKind
    config: JsonObject = Field(default_factory=dict, validate_default=True)

    @field_validator("config", mode="before")
    @classmethod
    def _normalize(cls, value: object, info: ValidationInfo) -> object:
        kind = info.data.get("kind")
        if kind in POLICY_KINDS and isinstance(value, dict):
            return normalize_policy_data(kind, value)
        return value


class OpPolicies(_SpecModel):
    """The policies of one op; each is inline data, a name in PipelineSpec.policies, or None."""

    retry: PolicySlot = None
    timeout: PolicySlot = None
    backpressure: PolicySlot = None
    rate_limit: PolicySlot = None
    chunk: PolicySlot = None
    retry_budget: PolicySlot = None
    circuit_breaker: PolicySlot = None

    @model_serializer(mode="wrap")
    def _leave_out_unset_guards(self, handler: SerializerFunctionWrapHandler) -> object:
        """No ``retry_budget``/``circuit_breaker`` key when unset: specs without them keep
        the hashes they had before these kinds existed."""
        data = handler(self)
        if isinstance(data, dict):
            for kind in _OPTIONAL_KINDS:
                if data.get(kind) is None:
                    data.pop(kind, None)
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _normalize(cls, value: object, info: ValidationInfo) -> object:
        kind: PolicyKind = info.field_name  # type: ignore[assignment]
        if value is None:
            return None
        if isinstance(value, str):
            if not value:
                raise ValueError("a policy name must not be empty")
            return value
        if isinstance(value, dict):
            return normalize_policy_data(kind, value)
        raise ValueError(
            f"a {kind} policy must be a mapping or the name of a policy, got {type(value).__name__}"
        )

    def items(self) -> tuple[tuple[PolicyKind, PolicySlot], ...]:
        """The policies that are set, as ``(kind, slot)`` pairs."""
        pairs = ((k, getattr(self, k)) for k in POLICY_KINDS)
        return tuple((k, v) for k, v in pairs if v is not None)


_FLATMAP_FORBIDDEN: tuple[PolicyKind, ...] = (
    "retry",
    "timeout",
    "backpressure",
    "chunk",
    "retry_budget",
    "circuit_breaker",
)


class OpSpec(_SpecModel):
    """One operator: a registered function by id and registry version, with params and policies.

    Kinds: Map (item -> AsyncPlan), FlatMap (item -> AsyncGen), BatchMap (list -> AsyncPlan of
    list; needs a chunk policy), Sink (like Map, for idempotent writes). FlatMap takes no retry,
    timeout, backpressure, chunk, retry_budget or circuit_breaker policy; only BatchMap takes a
    chunk policy. A retry budget and a circuit breaker are shared by every item (every batch)
    of their op. ``error_policy`` decides what leaves the op: ``collect`` keeps Err items in
    place, ``drop`` removes them, ``fail_fast`` emits the first Err and ends the stream.
    ``version`` is the op's canonical hash.
    """

    kind: OpKind
    name: Name
    func_id: Ident
    func_version: Annotated[Version, StringConstraints(min_length=1)]
    error_policy: ErrorPolicy = "collect"
    params: DataObject = Field(default_factory=dict)
    policies: OpPolicies = Field(default_factory=OpPolicies)
    version: Version = ""

    @model_validator(mode="after")
    def _policies_fit_kind(self) -> OpSpec:
        if self.kind == "BatchMap" and self.policies.chunk is None:
            raise PydanticCustomError(
                "missing", "policies.chunk: a BatchMap op needs a chunk policy"
            )
        if self.kind != "BatchMap" and self.policies.chunk is not None:
            raise ValueError(
                f"policies.chunk: only a BatchMap op takes a chunk policy, not {self.kind}"
            )
        if self.kind == "FlatMap":
            for kind in _FLATMAP_FORBIDDEN:
                if getattr(self.policies, kind) is not None:
                    raise ValueError(f"policies.{kind}: a FlatMap op takes no {kind} policy")
        return self


class PipelineSpec(_SpecModel):
    """A linear pipeline as data: ordered ops, shared named policies, resources, and its hash.

    ``resources`` is plain JSON for the receiving process (e.g. URLs, collection names);
    secrets appear only as ``{"env": NAME}`` references. ``version`` is the canonical hash of
    everything else; each op carries its own.
    """

    name: Name
    ops: Annotated[tuple[OpSpec, ...], Field(strict=False)]
    policies: dict[Ident, NamedPolicy] = Field(default_factory=dict)
    resources: DataObject = Field(default_factory=dict)
    version: Version = ""

    @model_validator(mode="after")
    def _references_resolve(self) -> PipelineSpec:
        for i, op in enumerate(self.ops):
            for kind, slot in op.policies.items():
                if not isinstance(slot, str):
                    continue
                named = self.policies.get(slot)
                if named is None:
                    raise ValueError(f"ops.{i}.policies.{kind}: no policy named {slot!r}")
                if named.kind != kind:
                    raise ValueError(
                        f"ops.{i}.policies.{kind}: policy {slot!r} is a {named.kind} policy"
                    )
        return self
