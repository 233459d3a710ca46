"""Adapters: Redis Streams, PostgreSQL, embedded local servers, settings."""
