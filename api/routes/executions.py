"""/api/v1 routes of the executions area (api.md "Resources")."""

from __future__ import annotations

from api.registry import Routes

routes = Routes("executions")
