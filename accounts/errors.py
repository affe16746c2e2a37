"""The error every token check raises for a token that must be refused (401)."""


class TokenError(Exception):
    """A bearer token that must be refused; the message says why and never repeats the token."""
