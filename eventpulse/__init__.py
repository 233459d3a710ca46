"""EventPulse: reliability-first event ingestion and anomaly detection."""

__version__ = "0.1.0"
