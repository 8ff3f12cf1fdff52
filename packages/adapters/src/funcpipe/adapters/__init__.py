"""funcpipe.adapters: the runtime (the only code that drives plans) and real I/O adapters."""

__all__: list[str] = []
