"""Status room: the public status page and its JSON feed. Imports neither other room."""
