"""Datasets: where the images come from and how they are stored.

- ``sources``: readers of each source's real on-disk format (MNIST idx, CIFAR-10 pickles, CIFAR-10-C arrays,
  image folders, scikit-learn's digits)
- ``downloads``: the files each source needs, their checksums and URLs, and the checked download
- ``corruptions``: generated CIFAR-10-C style corruptions
- ``datasets``: building a dataset from a source (subset, split, corruption), saving and loading it
"""
