"""Database backends and the read-replica router."""
