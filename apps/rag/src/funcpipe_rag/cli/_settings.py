"""Settings as a command names them: flags over ``FUNCPIPE_*``, the collection a spec names."""

from __future__ import annotations

from funcpipe_rag.app import IngestSettings, Settings, collection_for


def with_collection(settings: Settings, spec: IngestSettings | None) -> Settings:
    """The settings naming the collection to use: flag/env > spec > default."""
    return settings.model_copy(update={"collection": collection_for(settings, spec)})
