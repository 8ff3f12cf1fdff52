"""funcpipe.testing: deterministic testing tools for FuncPipe pipelines."""

__all__: list[str] = []
