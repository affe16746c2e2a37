"""Reading query parameters strictly: a value we cannot parse is a 400 that names the parameter."""

from __future__ import annotations

import re

from jobbergate.api.exceptions import BadRequest
from jobbergate.env import parse_bool

# Ids and Slurm job ids are 64-bit signed integers in the database; larger numbers can match nothing.
MAX_DB_INTEGER = 2**63 - 1


_DIGITS = re.compile(r"[0-9]{1,19}")


def _plain_int(raw: str, name: str) -> int:
    """ASCII digits only, at most 19 of them: Python's int() would also take '１', '١', '1_0' and 4,000 digits."""
    text = raw.strip()
    if not _DIGITS.fullmatch(text.lstrip("-")):
        raise BadRequest(f"Query parameter {name!r} must be a whole number in ASCII digits, got {raw[:50]!r}.")
    return int(text)


def query_bool(params, name: str, default: bool) -> bool:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    value = parse_bool(raw)
    if value is None:
        raise BadRequest(f"Query parameter {name!r} must be true or false, got {raw[:50]!r}.")
    return value


def query_int(params, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    value = _plain_int(raw, name)
    if value < minimum:
        raise BadRequest(f"Query parameter {name!r} must be at least {minimum}, got {value}.")
    if maximum is not None and value > maximum:
        raise BadRequest(f"Query parameter {name!r} must be at most {maximum}, got {value}.")
    return value


def query_int_list(params, name: str) -> list[int] | None:
    """A comma-separated list of integers (e.g. ``slurm_job_ids=1,2,3``), or None when absent."""
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return None
    values = [_plain_int(item, name) for item in raw.split(",") if item.strip()]
    if any(not 0 <= value <= MAX_DB_INTEGER for value in values):
        raise BadRequest(f"Query parameter {name!r} holds a number out of range.")
    return values
