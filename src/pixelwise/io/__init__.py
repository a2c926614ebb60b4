"""Readers and writers, one module per format. Every reader validates at the edge."""
