"""``scripts/serve`` on a copy of this tree, run as written up to the point it serves: it installs the jobbergate
command into .venv (README "Set up") and leaves nothing untracked behind.

To stay fast and offline, the copy's .venv is a fresh virtualenv that sees this .venv's packages through a
``.pth`` line, so pip finds requirements.txt satisfied and really installs only what is new to it: ``./cli``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from testkit.server import free_port, outside_environment

ROOT = Path(__file__).resolve().parent.parent


def copy_of_this_tree(target: Path) -> Path:
    """The files git would commit (tracked and not ignored), as they are now, in a fresh repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (item.decode() for item in listed)):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=target, check=True)
    subprocess.run([*git, "add", "-A"], cwd=target, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "copy"], cwd=target, check=True)
    return target


def venv_on_these_packages(folder: Path) -> None:
    """A virtualenv (with pip) that also sees the packages of the running one (not their console scripts: the
    server starts as ``python -m jobbergate.serve``, which needs none)."""
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(folder)], check=True)
    site = next((folder / "lib").glob("python3*/site-packages"))
    (site / "these-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")


def wait_until_served(process: subprocess.Popen, url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"scripts/serve exited with {process.returncode} before serving")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # an answer from the server, whatever its status
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"scripts/serve did not serve {url} within {seconds} s")


def test_after_scripts_serve_the_jobbergate_command_is_in_venv_and_nothing_is_left_untracked(tmp_path):
    if not shutil.which("git"):
        pytest.skip("git is missing")
    tree = copy_of_this_tree(tmp_path / "jobbergate")
    venv_on_these_packages(tree / ".venv")
    port = free_port()
    environment = outside_environment(JOBBERGATE_BIND=f"127.0.0.1:{port}", JOBBERGATE_WORKERS="1")
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["scripts/serve"],
            cwd=tree,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until_served(process, f"http://127.0.0.1:{port}/jobbergate/job-script-templates", 240)
            jobbergate = tree / ".venv" / "bin" / "jobbergate"
            assert jobbergate.is_file(), log.read_text()
            token = json.loads((tree / "var" / "local-admin.json").read_text())["api_token"]
            listed = subprocess.run(
                [str(jobbergate), "--base-url", f"http://127.0.0.1:{port}", "--json", "applications", "list"],
                env={**environment, "JOBBERGATE_TOKEN": token, "HOME": str(tmp_path)},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert listed.returncode == 0, listed.stderr
            assert "hello-serial" in listed.stdout  # the examples scripts/serve imported
            # It runs the copy's CLI, not this tree's.
            assert (
                str(tree / "cli")
                in subprocess.run(
                    [
                        str(tree / ".venv" / "bin" / "python"),
                        "-c",
                        "import jobbergate_cli; print(jobbergate_cli.__file__)",
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    text = log.read_text()
    assert text.count("installing Python packages") == 1, text
    untracked = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=tree, capture_output=True, text=True, check=True
    ).stdout
    assert untracked == "", untracked
