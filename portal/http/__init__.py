"""The HTTP layer every endpoint shares: DRF base classes, problems, pagination, schema, health."""
