"""funcpipe.specs."""

__all__: list[str] = []
