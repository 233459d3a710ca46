"""The HTTP API: one router per resource, mounted under /api/v1 by `app.create_app`."""
