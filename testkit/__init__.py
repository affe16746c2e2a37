"""Helpers for the test suite: personas, factories and the generic resource API test case."""
