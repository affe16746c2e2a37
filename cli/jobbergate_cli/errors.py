"""The errors of the command's Click-free layers (``endpoints``, ``services``, ``onsite``, ``folders``, ``local``,
``questions``, ``workflow``), each a sentence for the user.

The Click commands turn them into Click's in one place (``commands.shared.Command``): a ``UsageProblem`` is a usage
error (exit status 2, with the command's usage), any other ``CliError`` a failure (exit status 1). The transport's
``client.ApiError``, ``config.ConfigError`` and ``tokens.SignInError`` are not of this family: ``main.main`` reports
them with exit statuses of their own.
"""

from __future__ import annotations

# The command's exit statuses (cli/README.md): 0 success, 1 an error, 2 a usage error (Click's), 3 not signed in or
# refused, 4 not found, 5 the server failed, 6 stopped waiting (--timeout).
EXIT_ERROR, EXIT_AUTH, EXIT_NOT_FOUND, EXIT_SERVER, EXIT_TIMEOUT = 1, 3, 4, 5, 6


class CliError(Exception):
    """Something the command cannot do; the message says what, in one line."""


class UsageProblem(CliError):
    """What was asked cannot be done as asked: a missing or unfit option, argument, folder or file."""
