"""pytest plugin registered by funcpipe-testing (entry point ``pytest11``).

Fixtures:

- ``virtual``: a ``VirtualRunner``; ``virtual(main, seed=...)`` runs the coroutine function
  ``main`` on a virtual-time loop and returns its result, ``virtual.traced(...)`` returns the
  ``VirtualRun`` (result, trace, reorders). Use it from plain (non-async) test functions.
- ``fake_clock``: a fresh ``FakeClock`` at time 0.
"""

from __future__ import annotations

import pytest

from ._fake_time import FakeClock
from ._virtual import VirtualRunner


@pytest.fixture
def virtual() -> VirtualRunner:
    """Run coroutine functions on a virtual-time, seeded-interleaving event loop."""
    return VirtualRunner()


@pytest.fixture
def fake_clock() -> FakeClock:
    """A ``FakeClock`` starting at 0 s."""
    return FakeClock()
