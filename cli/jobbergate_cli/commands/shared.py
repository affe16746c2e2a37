"""Pieces every resource's commands are built from: list options, and list/get commands for a resource path."""

from __future__ import annotations

import click


def list_command(path: str, *, columns: list[str], title: str, example: str, extra_options=()):
    """``list``: the list conventions of the API as options, one table (or JSON) out."""

    @click.command("list", help=f"List {title}.\n\nExample: {example}")
    @click.option("--search", help="Terms matched against names, descriptions and owners.")
    @click.option("--sort-field", help="Field to sort by.")
    @click.option("--sort-order", type=click.Choice(["ascending", "descending"]), default="ascending")
    @click.option("--user", "user_only", is_flag=True, help="Only what you own.")
    @click.option("--include-archived", is_flag=True)
    @click.option("--page", type=click.IntRange(min=1), default=1)
    @click.option("--size", type=click.IntRange(1, 100), default=50)
    @click.pass_obj
    def command(obj, search, sort_field, sort_order, user_only, include_archived, page, size, **extra):
        params = {
            "search": search,
            "sort_field": sort_field,
            "sort_ascending": str(sort_order == "ascending").lower(),
            "user_only": str(user_only).lower(),
            "include_archived": str(include_archived).lower(),
            "page": page,
            "size": size,
            **{key: value for key, value in extra.items() if value not in (None, False)},
        }
        from jobbergate_cli.output import emit

        emit(obj.client.get(path, **params), as_json=obj.as_json, columns=columns, full=obj.full)

    for option in reversed(extra_options):
        command = option(command)
    return command


def get_command(path: str, *, columns: list[str], noun: str, example: str, key_help: str = "Its id."):
    """``get-one``: one row by id (or identifier where the resource has one)."""

    @click.command("get-one", help=f"Show one {noun}.\n\nExample: {example}")
    @click.option("--id", "-i", "key", required=True, help=key_help)
    @click.pass_obj
    def command(obj, key):
        from jobbergate_cli.output import emit

        emit(obj.client.get(f"{path}/{key}"), as_json=obj.as_json, columns=columns, full=obj.full)

    return command
