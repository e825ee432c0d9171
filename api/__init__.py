"""The aiohttp API (api.md): the only package that knows HTTP."""
