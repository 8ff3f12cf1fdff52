"""Secrets in specs: only references to environment variables, never values."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Annotated, ClassVar

from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from pydantic import BaseModel, ConfigDict, StringConstraints

EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]

_SECRET_WORDS = frozenset(
    {
        "token",
        "secret",
        "secrets",
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "apikey",
        "credential",
        "credentials",
        "bearer",
    }
)
_SECRET_PAIRS = frozenset(
    {("api", "key"), ("private", "key"), ("access", "key"), ("secret", "key"), ("auth", "key")}
)
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class SecretRef(BaseModel):
    """A secret given by reference: the name of the environment variable that holds it.

    In spec data it is written ``{"env": "OPENAI_API_KEY"}``. The value is read only by the
    receiving process, from the environment it passes to ``resolve``.
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="forbid", frozen=True, strict=True)

    env: EnvName

    def resolve(self, environ: Mapping[str, str]) -> Result[str, ErrInfo]:
        """The variable's value, or ``Err(MISSING_FIELD)`` when it is unset or empty."""
        value = environ.get(self.env)
        if not value:
            return Err(ErrInfo(codes.MISSING_FIELD, f"environment variable {self.env} is not set"))
        return Ok(value)

    @classmethod
    def from_data(cls, value: object) -> SecretRef | None:
        """The reference held by a params value (``{"env": NAME}``), or None for anything else."""
        if (
            isinstance(value, Mapping)
            and set(value) == {"env"}
            and isinstance(value["env"], str)
            and _ENV_RE.match(value["env"])
        ):
            return cls(env=value["env"])
        return None


def is_secret_key(key: str) -> bool:
    """True for keys named like a secret: api_key, apiKey, token, password, client_secret ..."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key).lower()
    words = [w for w in re.split(r"[^a-z0-9]+", spaced) if w]
    if any(w in _SECRET_WORDS for w in words):
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words))


def check_no_plain_secrets(value: object, where: str) -> None:
    """Raise ``ValueError`` if a string sits under a secret-named key outside a SecretRef."""
    stack: list[tuple[object, str, bool]] = [(value, where, False)]
    while stack:
        item, at, secret = stack.pop()
        if isinstance(item, str) and secret:
            raise ValueError(
                f'{at}: secrets must be references like {{"env": "VAR_NAME"}}, not values'
            )
        if isinstance(item, Mapping):
            if secret and set(item) == {"env"}:
                if SecretRef.from_data(item) is None:
                    raise ValueError(f"{at}.env: not a valid environment variable name")
                continue
            for k, v in item.items():
                stack.append((v, f"{at}.{k}", secret or is_secret_key(str(k))))
        elif isinstance(item, list | tuple):
            stack.extend((v, f"{at}[{i}]", secret) for i, v in enumerate(item))
