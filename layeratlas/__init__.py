"""layeratlas: study what CNN layers learn, from a config file."""

__version__ = "0.1.0"
