from tests.integration.conftest import empty_tables

__all__ = ["empty_tables"]
