"""Shared validation for policy fields and dict round-trips (ValueError naming the field)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def check_int(owner: str, name: str, value: object, *, minimum: int) -> None:
    """Require an ``int`` (not ``bool``) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{owner}.{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{owner}.{name} must be >= {minimum}, got {value}")


def check_number(owner: str, name: str, value: object, *, minimum: float, strict: bool) -> None:
    """Require a real number (not ``bool``) above (``strict``) or at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{owner}.{name} must be a number, got {type(value).__name__}")
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{owner}.{name} must be finite, got {value}")
    if (strict and value <= minimum) or (not strict and value < minimum):
        op = ">" if strict else ">="
        raise ValueError(f"{owner}.{name} must be {op} {minimum}, got {value}")


def check_bool(owner: str, name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{owner}.{name} must be a bool, got {type(value).__name__}")


def check_keys(owner: str, data: Mapping[str, Any], allowed: frozenset[str]) -> None:
    """Reject a dict that is not a mapping or has fields the policy does not know."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{owner} must be built from a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"{owner}.{unknown[0]} is not a field of {owner}")
