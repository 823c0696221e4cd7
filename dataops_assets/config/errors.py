"""Errors a person can act on: every message names the file, the key and what is wrong."""


class ConfigError(ValueError):
    """The declaration file is missing, unreadable or invalid."""
