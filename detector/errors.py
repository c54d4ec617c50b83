"""The project's exception tree. Leaf module: imports nothing from the project.

The CLI maps ``InputError`` and ``ConfigError`` to exit status 2 and anything
else to 1; library code raises, it never exits.
"""


class CoordetectError(Exception):
    """Base class of every error this project raises on purpose."""


class InputError(CoordetectError):
    """Input data is missing, unreadable or does not match the expected layout."""


class ConfigError(CoordetectError):
    """A configuration file or parameter is unknown or out of range."""


class UsageError(CoordetectError):
    """Command-line arguments that do not fit together."""
