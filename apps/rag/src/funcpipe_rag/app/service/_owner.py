"""Who owns a local store: a running server writes its URL under the data dir, so a local
command on the same store can say which ``--server`` to use instead of "locked"."""

from __future__ import annotations

import json
import os
from pathlib import Path

from funcpipe_rag.app._settings import Settings

OWNER_FILE = "serve.json"
"""Under a local store's data dir while a server owns it: ``{"url", "pid"}``."""


def owner_of(data_dir: Path) -> str | None:
    """The URL of the live server that owns ``data_dir``, if one does."""
    try:
        doc = json.loads((data_dir / OWNER_FILE).read_text("utf-8"))
        pid, url = int(doc["pid"]), str(doc["url"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return url


def claim(settings: Settings, url: str | None) -> Path | None:
    if settings.qdrant_url or url is None:
        return None
    where = settings.qdrant_path or settings.data_dir
    path = where / OWNER_FILE
    try:
        where.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"url": url, "pid": os.getpid()}), "utf-8")
    except OSError:
        return None
    return path
