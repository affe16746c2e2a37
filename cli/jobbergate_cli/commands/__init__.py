"""One Click module per resource, built from the shared pieces in ``shared.py``."""
