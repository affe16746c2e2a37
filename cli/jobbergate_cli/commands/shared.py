"""Pieces every resource's commands are built from: the command and group classes that turn the lower layers'
errors into Click's, list options, the row a command acts on, list/get commands, asking a question at the terminal."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import click

from jobbergate_cli.errors import CliError, UsageProblem

if TYPE_CHECKING:
    from jobbergate_cli.endpoints import Resource

SORT_ORDERS = ["ascending", "descending", "unsorted"]


class Command(click.Command):
    """A command whose lower layers' errors (``errors.py``) become Click's, with the same words: a ``UsageProblem``
    a usage error (exit status 2), any other ``CliError`` a failure (exit status 1)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageProblem as error:
            raise click.UsageError(str(error), ctx=ctx) from None
        except CliError as error:
            raise click.ClickException(str(error)) from None


class Group(click.Group):
    """A resource's group: its commands are ``Command``s."""

    command_class = Command


def one_of(given: dict[str, object]) -> object:
    """The single value given among alternative spellings of one thing (``{"--id": 7, "ID": None}`` -> 7)."""
    present = [value for value in given.values() if value is not None]
    if len(present) != 1:
        raise click.UsageError(f"Give exactly one of: {', '.join(given)}.")
    return present[0]


def selected(noun: str, *, by_identifier: bool = False):
    """The row a command acts on, passed to it as ``key``, named any way the upstream CLI allows: a positional
    argument, ``--id``/``-i``, or (applications) ``--identifier``; exactly one of them."""
    key_type = str if by_identifier else int
    metavar = "ID_OR_IDENTIFIER" if by_identifier else "ID"

    def decorate(function):
        @functools.wraps(function)
        def command(*args, selected_positional=None, selected_id=None, selected_identifier=None, **kwargs):
            given = {metavar: selected_positional, "--id": selected_id}
            if by_identifier:
                given["--identifier"] = selected_identifier
            return function(*args, key=one_of(given), **kwargs)

        options = [
            click.argument("selected_positional", metavar=f"[{metavar}]", required=False, type=key_type),
            click.option(
                "--id",
                "-i",
                "selected_id",
                type=key_type,
                help=f"The {noun}'s {'id or identifier' if by_identifier else 'id'} (or give it as the argument).",
            ),
        ]
        if by_identifier:
            options.append(click.option("--identifier", "selected_identifier", help=f"The {noun}'s identifier."))
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def list_command(
    resource: Resource,
    *,
    columns: list[str],
    title: str,
    example: str,
    extra_options=(),
    all_means_everyones: bool = False,
):
    """``list``: the list conventions of the API as options, one table (or JSON) out. ``all_means_everyones``
    adds upstream's ``--all`` (also what others own; here that is already the default, ``--user`` narrows)."""

    @click.command("list", cls=Command, help=f"List {title}.\n\nExample: {example}")
    @click.option("--search", help="Terms matched against names, descriptions and owners.")
    @click.option("--sort-field", help="Field to sort by.")
    @click.option(
        "--sort-order",
        type=click.Choice(SORT_ORDERS, case_sensitive=False),
        default="ascending",
        help="unsorted leaves the server's order.",
    )
    @click.option("--user", "user_only", is_flag=True, help="Only what you own.")
    @click.option("--include-archived", is_flag=True)
    @click.option("--page", "-p", type=click.IntRange(min=1), default=1)
    @click.option("--size", "-s", type=click.IntRange(1, 100), default=50)
    @click.pass_obj
    def command(obj, search, sort_field, sort_order, user_only, include_archived, page, size, **extra):
        if extra.pop("everyones", False) and user_only:
            raise click.UsageError("--all and --user contradict each other.")
        params = {
            "search": search,
            "sort_field": sort_field,
            "user_only": str(user_only).lower(),
            "include_archived": str(include_archived).lower(),
            "page": page,
            "size": size,
            **{key: value for key, value in extra.items() if value not in (None, False)},
        }
        if sort_order.lower() != "unsorted":
            params["sort_ascending"] = str(sort_order.lower() == "ascending").lower()
        from jobbergate_cli.output import emit

        emit(resource.list_page(obj.client, **params), as_json=obj.as_json, columns=columns, full=obj.full)

    if all_means_everyones:
        extra_options = [
            *extra_options,
            click.option("--all", "everyones", is_flag=True, help=f"Also {title} others own (the default here)."),
        ]
    for option in reversed(extra_options):
        command = option(command)
    return command


def get_command(resource: Resource, *, columns: list[str], noun: str, example: str, by_identifier: bool = False):
    """``get-one``: one row by id (or identifier where the resource has one)."""

    @click.command("get-one", cls=Command, help=f"Show one {noun}.\n\nExample: {example}")
    @selected(noun, by_identifier=by_identifier)
    @click.pass_obj
    def command(obj, key):
        from jobbergate_cli.output import emit

        emit(resource.get(obj.client, key), as_json=obj.as_json, columns=columns, full=obj.full)

    return command


def prompt(question: dict) -> Any:
    """Ask one typed question (as jobbergate.yaml writes it) at the terminal; its answer (``questions.Prompt``)."""
    kind = question.get("type", "text")
    message = question.get("message") or question["name"]
    default = question.get("default")
    if kind == "boolean":
        return click.confirm(message, default=bool(default) if default is not None else None)
    if kind == "choice":
        choices = [str(choice) for choice in question["choices"]]
        picked = click.prompt(message, type=click.Choice(choices), default=None if default is None else str(default))
        return question["choices"][choices.index(picked)]
    if kind == "multi_choice":
        choices = [str(choice) for choice in question["choices"]]
        shown = ", ".join(map(str, default)) if isinstance(default, list) else None
        raw = click.prompt(f"{message} (comma-separated: {', '.join(choices)})", default=shown)
        chosen = [item.strip() for item in str(raw).split(",") if item.strip()]
        unknown = [item for item in chosen if item not in choices]
        if unknown:
            raise click.BadParameter(f"not a choice: {', '.join(unknown)}", param_hint=question["name"])
        return [question["choices"][choices.index(item)] for item in chosen]
    if kind == "integer":
        return click.prompt(message, type=click.IntRange(question.get("min"), question.get("max")), default=default)
    if kind == "float":
        return click.prompt(message, type=click.FloatRange(question.get("min"), question.get("max")), default=default)
    return click.prompt(message, default=default)


def show_defaults(obj, defaults_used: dict[str, Any]) -> None:
    """The table of the defaults taken without asking (``--fast``), unless the output is JSON."""
    from jobbergate_cli.output import table

    if defaults_used and not (obj and obj.as_json):
        table([{"question": key, "default used": value} for key, value in defaults_used.items()], None)
