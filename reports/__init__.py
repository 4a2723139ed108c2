"""Turning stored runs into the papers' tables and figures (aggregation, intervals, McNemar, rendering)."""
