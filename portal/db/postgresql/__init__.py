"""The PostgreSQL backend: django-prometheus's (Django's, with query metrics), checked and
decoded more cheaply (see `base`)."""
