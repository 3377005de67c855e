"""Metrics from logs: rules (``rules``), bounded series (``series``) and their collector (``collector``)."""
