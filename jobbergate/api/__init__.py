"""Bases every resource API is built from: list conventions, owner scoping, permissions, files and errors."""
