"""Settings, URLs, the WSGI entry point and what they read: how the app is put together."""
