"""Feature builders: per-account and per-pair signals derived from canonical events.

This package may import only ``detector.schema`` and ``detector.errors``.
"""
