"""Tenants and their tokens: who is asking, and the scoping of every tenant-owned read."""
