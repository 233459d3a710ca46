"""Edges of the product: HTTP/WebSocket (FastAPI) and the command line."""
