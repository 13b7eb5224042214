"""Seeing inside a network: its filters, the feature maps of chosen images (before and after ReLU), the
dataset patches that drive each channel hardest (cropped to the unit's receptive field), the shape of every
layer, and the units that never activate. Pure functions on modules, tensors and arrays; the figures are in
``layeratlas.plots.inspection`` and the workflow step in ``layeratlas.stages.inspect``."""
