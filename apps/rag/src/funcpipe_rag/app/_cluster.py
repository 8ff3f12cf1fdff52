"""Choosing where an ingest runs: in this process, or on Dask (extra ``funcpipe-rag[dask]``).

Importing this module never imports Dask: ``remote_for`` does, when a run asks for a cluster.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from funcpipe.result import ErrInfo, codes

from funcpipe_rag.domain import Stage

DASK_EXTRA_HINT = 'pip install "funcpipe-rag[dask]"'


@dataclass(frozen=True, slots=True)
class Cluster:
    """Where a distributed ingest runs: a LocalCluster of ``workers`` processes on loopback,
    started and stopped by the run, or the scheduler at ``address`` (``tcp://host:8786``)."""

    workers: int | None = None
    address: str | None = None
    timeout_s: float = 10.0
    """How long to wait for the scheduler (or a local cluster) to answer."""

    def __post_init__(self) -> None:
        if (self.workers is None) == (self.address is None):
            raise ValueError("Cluster: give exactly one of workers, address")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"Cluster: workers must be >= 1, got {self.workers}")
        if self.timeout_s <= 0:
            raise ValueError(f"Cluster: timeout_s must be > 0, got {self.timeout_s}")


def dask_missing() -> ErrInfo | None:
    """``INVALID_INPUT`` (stage ``config``, exit 2) naming the extra to install when Dask is
    not installed; ``None`` when it is."""
    try:
        found = importlib.util.find_spec("distributed") is not None
    except (ImportError, ValueError):
        found = False
    if found:
        return None
    msg = f"--workers and --dask need the optional Dask dependencies: {DASK_EXTRA_HINT}"
    return ErrInfo(codes.INVALID_INPUT, msg, stage=Stage.CONFIG)
