"""Analyses of extracted layer features: class variances, 2-D embeddings, classifiers (``probes``),
cluster quality (``cluster``), neural collapse (``collapse``) and linear CKA (``cka``)."""
