"""The ``jobbergate`` command. Subcommands are imported only when used, so ``jobbergate --help`` stays fast."""

from __future__ import annotations

import importlib
import sys

import click

from jobbergate_cli import __version__
from jobbergate_cli.errors import EXIT_AUTH, EXIT_ERROR, EXIT_NOT_FOUND, EXIT_SERVER

# Exit statuses: 2 is Click's usage error; 6 is a --timeout that ran out while waiting on jobs.

SUBCOMMANDS = {
    "login": ("jobbergate_cli.commands.auth", "login", "Sign in (device code flow)."),
    "logout": ("jobbergate_cli.commands.auth", "logout", "Forget the cached tokens."),
    "show-token": ("jobbergate_cli.commands.auth", "show_token", "Print the access token or its claims."),
    "agent": ("jobbergate_cli.commands.agent", "agent", "The cluster agent (on a Slurm login node)."),
    "applications": (
        "jobbergate_cli.commands.applications",
        "applications",
        "Applications: list, get, create, update, delete, clone, download.",
    ),
    "job-scripts": (
        "jobbergate_cli.commands.job_scripts",
        "job_scripts",
        "Job scripts: create (render), list, get, files, clone, delete.",
    ),
    "job-submissions": (
        "jobbergate_cli.commands.job_submissions",
        "job_submissions",
        "Job submissions: create, watch, cancel, clone, list, get, delete.",
    ),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (help lists them without importing)."""

    def list_commands(self, ctx):
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx, name):
        if name not in SUBCOMMANDS:
            return None
        module, attribute, _ = SUBCOMMANDS[name]
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx, formatter):
        rows = [(name, SUBCOMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


class Context:
    """What every command shares: settings, an API client built on first use, output switches."""

    def __init__(self, *, as_json: bool, full: bool, verbose: bool, flags: dict):
        self.as_json, self.full, self.verbose, self.flags = as_json, full, verbose, flags
        self._client = None
        self._settings = None

    @property
    def settings(self):
        if self._settings is None:
            from jobbergate_cli.config import load_settings

            self._settings = load_settings(**self.flags)
        return self._settings

    @property
    def client(self):
        if self._client is None:
            from jobbergate_cli.client import ApiClient
            from jobbergate_cli.tokens import access_token

            settings = self.settings
            self._client = ApiClient(
                base_url=settings.base_api_url,
                token=lambda: access_token(settings),
                timeout=settings.requests_timeout,
            )
        return self._client


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--json/--no-json", "--raw/--no-raw", "as_json", default=False, help="Print JSON instead of tables.")
@click.option("--full/--no-full", default=False, help="Show every field.")
@click.option("--verbose/--no-verbose", default=False, help="Show tracebacks and details of failures.")
@click.option("--token", envvar="JOBBERGATE_TOKEN", help="Access token (e.g. a server-issued one).")
@click.option("--base-url", help="The API's base URL (BASE_API_URL), e.g. http://127.0.0.1:8000.")
@click.version_option(__version__, prog_name="jobbergate")
@click.option("--no-version", is_flag=True, hidden=True, expose_value=False, help="Upstream's no-op.")
@click.pass_context
def cli(ctx, as_json, full, verbose, token, base_url):
    """Jobbergate: applications, job scripts and Slurm job submissions, from the terminal.

    Example: jobbergate --json applications list --search mpi
    """
    ctx.obj = Context(
        as_json=as_json,
        full=full,
        verbose=verbose,
        flags={"jobbergate_token": token, "base_api_url": base_url},
    )


def exit_status(error) -> int:
    status = getattr(error, "status", 0)
    if status in (401, 403):
        return EXIT_AUTH
    if status == 404:
        return EXIT_NOT_FOUND
    if status == 0 or status >= 500:
        return EXIT_SERVER
    return EXIT_ERROR


def main(argv=None) -> None:
    """Run the command; a failure is one line on stderr and a distinct exit status (a traceback with --verbose)."""
    from jobbergate_cli.client import ApiError
    from jobbergate_cli.config import ConfigError
    from jobbergate_cli.tokens import SignInError

    arguments = sys.argv[1:] if argv is None else argv
    try:
        cli.main(args=arguments, prog_name="jobbergate", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_ERROR)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except ApiError as error:
        _fail(arguments, error)
        for field, messages in (error.errors or {}).items():
            text = " ".join(map(str, messages)) if isinstance(messages, list) else messages
            click.echo(f"  {field}: {text}", err=True)
        sys.exit(exit_status(error))
    except SignInError as error:
        _fail(arguments, error)
        sys.exit(EXIT_AUTH)
    except ConfigError as error:
        _fail(arguments, error)
        sys.exit(EXIT_ERROR)


def _fail(arguments, error) -> None:
    if "--verbose" in arguments:
        import traceback

        traceback.print_exc()
    click.echo(f"Error: {error}", err=True)


if __name__ == "__main__":
    main()
