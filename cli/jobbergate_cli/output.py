"""One way to print results: a table for people, JSON for programs (``--json``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import click


def _cell(value: Any, width: int = 40) -> str:
    text = "" if value is None else json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def emit(data: Any, *, as_json: bool, columns: Sequence[str] | None = None, title: str = "", full: bool = False):
    """Print a list envelope, a list of rows, or one row."""
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    if isinstance(data, dict) and "items" in data:
        table(data["items"], columns, title=title)
        click.echo(f"page {data['page']} of {max(data['pages'], 1)}, {data['total']} in all")
    elif isinstance(data, list):
        table(data, columns, title=title)
    elif isinstance(data, dict):
        keys = list(data) if full or not columns else [key for key in columns if key in data]
        width = max((len(key) for key in keys), default=0)
        if title:
            click.echo(title)
        for key in keys:
            click.echo(f"  {key.ljust(width)}  {_cell(data[key], 200 if full else 80)}")
    else:
        click.echo(str(data))


def table(rows: Iterable[dict], columns: Sequence[str] | None, *, title: str = "") -> None:
    rows = list(rows)
    if not rows:
        click.echo("(nothing)")
        return
    columns = list(columns or rows[0].keys())
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[index]) for line in cells)) for index, column in enumerate(columns)]
    if title:
        click.echo(title)
    click.echo("  ".join(column.upper().ljust(widths[index]) for index, column in enumerate(columns)))
    for line in cells:
        click.echo("  ".join(value.ljust(widths[index]) for index, value in enumerate(line)))
