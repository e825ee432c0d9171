"""/api/v1 routes of the templates area (api.md "Resources")."""

from __future__ import annotations

from api.registry import Routes

routes = Routes("templates")
