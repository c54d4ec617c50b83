"""coordetect: find groups of social-media accounts that one operator runs."""

__version__ = "0.1.0"
