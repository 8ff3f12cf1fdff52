"""A YAML loader stricter than ``yaml.SafeLoader``: data only, no tags, no aliases."""

from __future__ import annotations

from typing import Any

import yaml  # type: ignore[import-untyped]
from yaml.nodes import MappingNode, Node  # type: ignore[import-untyped]

_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class SpecYamlError(ValueError):
    """The document is refused; the message says why and where."""


class StrictSafeLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader that also refuses every explicit tag, anchors, aliases, merge keys and
    duplicate keys, nests at most ``max_depth`` containers and holds at most ``max_nodes``
    values (both checked while composing, so such a document is refused before it is built,
    and pure-Python scanning stops early). Timestamps stay strings, as in JSON.
    """

    max_depth = 32
    max_nodes = 20_000

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Node | None, index: object) -> Node | None:
        event = self.peek_event()
        mark = f"line {event.start_mark.line + 1}" if event.start_mark else "?"
        if isinstance(event, yaml.AliasEvent):
            raise SpecYamlError(f"{mark}: aliases are not allowed in specs")
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise SpecYamlError(f"{mark}: anchors are not allowed in specs")
        tag = getattr(event, "tag", None)
        if tag is not None:
            raise SpecYamlError(f"{mark}: tags are not allowed in specs (found {tag!r})")
        self._nodes += 1
        if self._nodes > self.max_nodes:
            raise SpecYamlError(f"{mark}: more than {self.max_nodes} values in one spec")
        container = isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent)
        if container:
            self._depth += 1
            if self._depth > self.max_depth:
                raise SpecYamlError(f"{mark}: nested deeper than {self.max_depth} levels")
        try:
            node: Node | None = super().compose_node(parent, index)
        finally:
            if container:
                self._depth -= 1
        return node

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                raise SpecYamlError(
                    f"line {key_node.start_mark.line + 1}: merge keys are not allowed"
                )
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise SpecYamlError(
                    f"line {key_node.start_mark.line + 1}: key {key!r} is not a string"
                )
            if key in seen:
                raise SpecYamlError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r}")
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


StrictSafeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str, *, max_depth: int, max_nodes: int) -> object:
    """Load one YAML document as plain data; ``SpecYamlError`` or ``yaml.YAMLError`` if refused."""
    loader = StrictSafeLoader(text)
    loader.max_depth = max_depth
    loader.max_nodes = max_nodes
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def dump_yaml(data: object) -> str:
    """Block-style YAML of plain data, keys in the given order; non-ASCII is escaped (PyYAML
    would otherwise write characters such as NEL raw, and they would read back as line breaks)."""
    text: str = yaml.safe_dump(data, sort_keys=False, allow_unicode=False, default_flow_style=False)
    return text
