"""Tests that need a tool the machine may lack: skipped with the reason locally, failed under CI."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """`CI=true` (set by GitHub Actions, GitLab CI and most others): a missing tool is a broken runner."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def tool_missing(reason: str) -> NoReturn:
    """Skip with `reason` on a developer's machine; fail under CI, where a silent skip proves nothing."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing tool fails the run instead of skipping)", pytrace=False)
    pytest.skip(reason)
