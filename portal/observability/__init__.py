"""Request context, metrics and the access log."""
