"""Analyses of extracted layer features: class variances and 2-D embeddings."""
