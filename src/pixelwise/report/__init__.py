"""Figures and reports users read after a run."""
