"""Engines the detector can run its heavy stages on: polars in-process (default) and Spark."""
