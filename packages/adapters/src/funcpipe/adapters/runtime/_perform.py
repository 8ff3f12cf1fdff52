"""The single interpreter of AsyncPlans."""

from __future__ import annotations

from typing import TypeVar

from funcpipe.async_plan import AsyncPlan
from funcpipe.result import ErrInfo, Result

A = TypeVar("A")


async def perform_async(plan: AsyncPlan[A]) -> Result[A, ErrInfo]:
    """Run ``plan`` once and return its Result. The one place a plan is driven."""
    return await plan()
