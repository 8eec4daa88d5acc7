"""Daemon wiring, signals and reload, logging set-up."""
