"""Settings: flags > environment (``FUNCPIPE_*``) > spec > defaults (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from funcpipe_rag.domain import Stage
from funcpipe_rag.pipelines import DEFAULT_COLLECTION, IngestSettings


class Settings(BaseSettings):
    """Where the store and the embedder are. Every field has an env var ``FUNCPIPE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="FUNCPIPE_", extra="ignore", frozen=True)

    data_dir: Path = Field(default=Path(".funcpipe"), description="embedded store location")
    collection: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    qdrant_url: str | None = None
    qdrant_api_key: SecretStr | None = None
    qdrant_path: Path | None = Field(default=None, description="qdrant-client local mode dir")
    embed_url: str | None = None
    embed_model: str | None = None
    embed_api_key: SecretStr | None = None
    embed_dim: int | None = Field(default=None, ge=1, le=65536)
    key_base: Path | None = Field(default=None, description="source keys are relative to it")
    # round 3 documents: PDF/DOCX extraction workers (None: the cores; 0: threads, no kill)
    jobs: int | None = Field(default=None, ge=0, le=256, description="extraction processes")


_URL_FIELDS = {
    "qdrant_url": "--qdrant-url / FUNCPIPE_QDRANT_URL",
    "embed_url": "FUNCPIPE_EMBED_URL",
}


def url_problem(value: str) -> str | None:
    """Why ``value`` is not an ``http(s)://HOST[:PORT][/PATH]`` URL, or ``None``."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError as exc:
        return str(exc)
    if parts.scheme.lower() not in ("http", "https"):
        return "expected http://HOST[:PORT] or https://HOST[:PORT]"
    if not parts.hostname:
        return "no host"
    if port == 0:
        return "port 0"
    return None


def load_settings(**flags: object) -> Result[Settings, ErrInfo]:
    """Settings from the given flags (``None`` = not given) over the environment.

    ``INVALID_INPUT`` (stage ``config``): a value of the wrong form, e.g. a Qdrant or embedder
    URL that is not ``http(s)://HOST[:PORT]``."""
    given = {k: v for k, v in flags.items() if v is not None}
    try:
        settings = Settings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        msg = f"invalid setting {where}: {first.get('msg', 'invalid value')}"
        return Err(ErrInfo(codes.INVALID_INPUT, msg, stage=Stage.CONFIG))
    for name, label in _URL_FIELDS.items():
        value = getattr(settings, name)
        problem = url_problem(value) if value else None
        if problem is not None:
            msg = f"invalid {label} {value!r}: {problem}"
            return Err(ErrInfo(codes.INVALID_INPUT, msg, stage=Stage.CONFIG))
    return Ok(settings)


def collection_for(settings: Settings, spec: IngestSettings | None = None) -> str:
    """The collection a command uses: flag/env > spec > default."""
    return settings.collection or (spec.collection if spec else None) or DEFAULT_COLLECTION
