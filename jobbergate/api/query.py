"""Reading query parameters strictly: a value we cannot parse is a 400 that names the parameter."""

from __future__ import annotations

from jobbergate.api.exceptions import BadRequest

# Ids and Slurm job ids are 64-bit signed integers in the database; larger numbers can match nothing.
MAX_DB_INTEGER = 2**63 - 1

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def query_bool(params, name: str, default: bool) -> bool:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise BadRequest(f"Query parameter {name!r} must be true or false, got {raw[:50]!r}.")


def query_int(params, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"Query parameter {name!r} must be an integer, got {raw[:50]!r}.") from None
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
    try:
        values = [int(item) for item in raw.split(",") if item.strip()]
    except ValueError:
        raise BadRequest(f"Query parameter {name!r} must be comma-separated integers.") from None
    if any(not 0 <= value <= MAX_DB_INTEGER for value in values):
        raise BadRequest(f"Query parameter {name!r} holds a number out of range.")
    return values
