"""The ``jobbergate`` command: a thin client of the Jobbergate REST API. It never imports Django."""

__version__ = "0.1.0"
