"""tripwired: a pipeline telemetry agent and tripwire daemon."""

__version__ = "0.1.0"
