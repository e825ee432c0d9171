"""One module per area of api.md; each exposes `routes`, collected by api/app.py."""
