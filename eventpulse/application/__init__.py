"""Use cases and the ports (Protocols) they need; no Redis, PostgreSQL or web framework here."""
