"""The errors of the command's Click-free layers (``endpoints``, ``services``, ``onsite``, ``folders``, ``local``,
``questions``, ``workflow``), each a sentence for the user.

The Click commands turn them into Click's in one place (``commands.shared.Command``): a ``UsageProblem`` is a usage
error (exit status 2, with the command's usage), any other ``CliError`` a failure (exit status 1). The transport's
``client.ApiError``, ``config.ConfigError`` and ``tokens.SignInError`` are not of this family: ``main.main`` reports
them with exit statuses of their own.
"""

from __future__ import annotations


class CliError(Exception):
    """Something the command cannot do; the message says what, in one line."""


class UsageProblem(CliError):
    """What was asked cannot be done as asked: a missing or unfit option, argument, folder or file."""
