"""The process roles of a pytest-codex session (``pytest_codex.session.role_of`` decides)."""

from __future__ import annotations

import enum


class Role(enum.Enum):
    SINGLE = "single"  # no xdist: generate, execute, report
    CONTROLLER = "controller"  # xdist controller: generate and report
    WORKER = "worker"  # xdist worker: execute only
