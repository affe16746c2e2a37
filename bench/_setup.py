"""Shared start of the benchmarks: the repository on sys.path (``ROOT``, so ``testkit`` imports), and for the
in-process ones Django on a temporary var folder, migrated."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def start_django(prefix: str, var_dir: str | None = None, *, migrate: bool = True) -> str:
    """Set up Django with its own var folder (SQLite there unless DATABASE_URL is given) and migrate; ``var_dir``
    names one made before (by the process that started this one, which migrated: ``migrate=False``)."""
    var_dir = var_dir or tempfile.mkdtemp(prefix=prefix)
    os.environ["JOBBERGATE_VAR_DIR"] = var_dir
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{var_dir}/bench.sqlite3")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobbergate.settings")
    os.environ.setdefault("JOBBERGATE_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    if migrate:
        call_command("migrate", verbosity=0)
    return var_dir
