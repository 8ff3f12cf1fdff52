"""Settings: flags > environment (``FUNCPIPE_*``) > spec > defaults (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path

from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


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


def load_settings(**flags: object) -> Result[Settings, ErrInfo]:
    """Settings from the given flags (``None`` = not given) over the environment."""
    given = {k: v for k, v in flags.items() if v is not None}
    try:
        return Ok(Settings(**given))  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        msg = f"invalid setting {where}: {first.get('msg', 'invalid value')}"
        return Err(ErrInfo(codes.INVALID_INPUT, msg, stage="config"))
