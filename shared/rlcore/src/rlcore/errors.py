"""The error classes every package raises for input a user can fix.

Each is a subclass of a builtin so that callers can catch them generically:
`ConfigError` and `DataError` are `ValueError`s, `DataFileNotFound` is also a
`FileNotFoundError`, `ModelNotFound` is a `LookupError`. They are re-exported by the
modules that raise them (`rlcore.config`, `rlcore.data`, `rlcore.models`).
"""

from __future__ import annotations


class ConfigError(ValueError):
    """An invalid configuration: unknown key, wrong type, bad value. Names the key and the file."""


class DataError(ValueError):
    """Unreadable or malformed data: names the source and, for line formats, the line."""


class DataFileNotFound(DataError, FileNotFoundError):
    """A data file that does not exist."""


class ModelNotFound(LookupError):
    """A model spec that cannot be resolved: says what was looked for and how to provide it."""


USER_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    DataError,
    ModelNotFound,
    FileNotFoundError,
    ConnectionError,
)
"""What a CLI reports as one line with exit code 2 instead of a traceback (ConnectionError: an unreachable
model server, such as an ``openai:`` endpoint that is not running)."""
