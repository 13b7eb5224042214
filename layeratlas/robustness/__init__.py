"""Robustness under domain shift (seed report 002): classifiers fitted on clean data scored on corrupted
copies of the same images, networks fine-tuned on pooled corrupted images, and per-layer feature drift.

- ``config``: the ``robustness:`` block of a config resolved to datasets, models and layers;
- ``evaluate``: pairing clean and corrupted samples, classifiers fitted on clean features and scored on
  corrupted ones, a network's own head on images, accuracy tables and per-model summaries;
- ``drift``: linear CKA and the change of the class-variance metrics between clean and corrupted features;
- ``finetune``: the pooled, sampled training set of several (corrupted) datasets.
"""
