"""The neighbour test (issue 10): one user sends the worst inputs we know of, in parallel, while another user works.

The service runs as in production (``python -m jobbergate.serve`` with the workers ``scripts/serve`` starts) on the
test's PostgreSQL database. Bob, an ordinary user, sends for a bounded time, from several connections at once: answers
against a catastrophic pattern, slow renders, a YAML alias bomb, an archive whose header holds 256 MB, an archive of
50,000 folders, a zip bomb, 2 MB of YAML that took half a minute to parse, and a JSON body nested 100,000 deep.
Meanwhile alice lists, reads, renders, creates and submits as usual. None of alice's requests may fail and their p99
must stay under 1 s; bob gets only 4xx answers; and the server writes nothing outside its data folder."""

from __future__ import annotations

import gzip
import io
import statistics
import subprocess
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import pytest
import requests

from applications.tests.test_folders import CONFIG, FOLDER, tar_gz
from applications.tests.test_hostile_applications import alias_bomb, folder_flood
from jobbergate.choices import USER_PERMISSIONS
from testkit.personas import make_persona
from testkit.server import free_port, serve, serving_the_test_database

ROOT = Path(__file__).resolve().parent.parent
ATTACK_SECONDS = 20
WORKERS = 2  # as scripts/serve starts by default

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def data_folder(tmp_path):
    folder = tmp_path / "data"
    (folder / "tmp").mkdir(parents=True)
    return folder


@pytest.fixture
def server(data_folder):
    """The production server serving the test database; its data folder, HOME and TMPDIR all inside ``data_folder``."""
    environment = serving_the_test_database(data_folder)
    log = data_folder.parent / "server.log"
    arguments = ("--workers", str(WORKERS), "--log-level", "error")
    with serve(
        bind=f"127.0.0.1:{free_port()}", cwd=ROOT, environment=environment, log=log, arguments=arguments
    ) as base:
        yield base
        print("the server's log:", log.read_text()[-3000:])


def session_for(persona) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {persona.token}"
    return session


# Bob's worst ---------------------------------------------------------------------------------------------------


SLOW_TEMPLATE = b"{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}done\n"
PATTERN_CONFIG = b'questions:\n  - name: word\n    type: text\n    pattern: "(a+)+b"\n'


def header_bomb(name_bytes: int = 256 * 1024 * 1024) -> bytes:
    """A .tar.gz whose one member's GNU long-name header holds ``name_bytes`` bytes, written without holding them."""
    buffer = io.BytesIO()
    header = tarfile.TarInfo("././@LongLink")
    header.type = tarfile.GNUTYPE_LONGNAME
    header.size = name_bytes
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1) as stream:
        stream.write(header.tobuf(format=tarfile.GNU_FORMAT))
        chunk = b"n" * (1024 * 1024)
        for _ in range(name_bytes // len(chunk)):
            stream.write(chunk)
        stream.write(b"\0" * (512 - name_bytes % 512 if name_bytes % 512 else 0))
        stream.write(tarfile.TarInfo("templates/x.j2").tobuf(format=tarfile.GNU_FORMAT))
    return buffer.getvalue()


def zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in FOLDER.items():
            archive.writestr(name, content)
        archive.writestr("templates/zeros.j2", b"0" * (60 * 1024 * 1024))
    return buffer.getvalue()


def attacks(base: str, bob_script_id: int) -> list[tuple[str, dict]]:
    """(name, keyword arguments of requests.request) for each of bob's requests."""
    bomb_config = CONFIG.replace(b"application_config:\n  partition: debug\n  nodes: 2\n", b"") + alias_bomb()
    render = f"{base}/job-scripts/render-from-template"

    def upload(identifier: str, data: bytes) -> dict:
        return {
            "method": "PUT",
            "url": f"{base}/job-script-templates/{identifier}/application",
            "files": {"archive": ("app.tar.gz", data)},
        }

    def render_body(data: dict) -> dict:
        mapping = {"job.sh.j2": "job.sh"}
        return {
            "create_request": {"name": "x"},
            "render_request": {"template_output_name_mapping": mapping, "param_dict": {"data": data}},
        }

    deep = '{"a":' * 100_000 + "1" + "}" * 100_000
    return [
        (
            "catastrophic pattern",
            {"method": "POST", "url": f"{render}/bob-pattern", "json": render_body({"word": "a" * 5000 + "!"})},
        ),
        (
            "slow render",
            {"method": "POST", "url": f"{render}/bob-slow", "json": render_body({"partition": "p", "nodes": 1})},
        ),
        ("alias bomb", upload("bob-bomb", tar_gz({**FOLDER, "jobbergate.yaml": bomb_config}))),
        ("header bomb", upload("bob-headers", header_bomb())),
        ("folder flood", upload("bob-flood", folder_flood(50_000, "tar.gz"))),
        ("zip bomb", upload("bob-zip", zip_bomb())),
        (
            "costly parse",
            {
                "method": "PUT",
                "url": f"{base}/job-scripts/{bob_script_id}/upload/SUPPORT?filename=data.yaml",
                "files": {"upload_file": ("data.yaml", b"[" + b"1," * 1_000_000 + b"1]")},
            },
        ),
        (
            "deep JSON",
            {
                "method": "POST",
                "url": f"{base}/job-script-templates",
                "data": deep,
                "headers": {"Content-Type": "application/json"},
            },
        ),
    ]


def attack(session: requests.Session, plan: list[tuple[str, dict]], until: float, seen: dict, offset: int) -> None:
    index = offset
    while time.monotonic() < until:
        name, arguments = plan[index % len(plan)]
        index += 1
        try:
            outcome = session.request(timeout=30, **arguments).status_code
        except requests.RequestException as error:  # an answer lost is a failure too, not a thread that stops
            outcome = f"{type(error).__name__}: {error}"[:200]
        seen.setdefault(name, set()).add(outcome)


# Alice's day ---------------------------------------------------------------------------------------------------


def ordinary_requests(base: str, job_script_id: int) -> list[tuple[str, dict, int]]:
    render = {
        "create_request": {"name": "nightly"},
        "render_request": {
            "template_output_name_mapping": {"job.sh.j2": "job.sh"},
            "param_dict": {"data": {"partition": "debug", "nodes": 2}},
        },
    }
    return [
        ("list applications", {"method": "GET", "url": f"{base}/job-script-templates?size=50"}, 200),
        ("list job scripts", {"method": "GET", "url": f"{base}/job-scripts?size=50"}, 200),
        ("get a job script", {"method": "GET", "url": f"{base}/job-scripts/{job_script_id}"}, 200),
        ("create a job script", {"method": "POST", "url": f"{base}/job-scripts", "json": {"name": "by hand"}}, 201),
        (
            "render",
            {"method": "POST", "url": f"{base}/job-scripts/render-from-template/alice-app", "json": render},
            201,
        ),
        (
            "submit",
            {
                "method": "POST",
                "url": f"{base}/job-submissions",
                "json": {"name": "run", "job_script_id": job_script_id, "client_id": "cluster-a"},
            },
            201,
        ),
    ]


def test_one_users_worst_never_slows_or_fails_anothers_requests(server, data_folder, tmp_path):
    alice = make_persona("alice@example.com", USER_PERMISSIONS)
    bob = make_persona("bob@example.com", USER_PERMISSIONS)
    alice_session, bob_session = session_for(alice), session_for(bob)

    def put_folder(session, identifier, files):
        response = session.put(
            f"{server}/job-script-templates/{identifier}/application",
            files={"archive": ("app.tar.gz", tar_gz(files))},
            timeout=30,
        )
        assert response.status_code == 201, response.text

    put_folder(alice_session, "alice-app", FOLDER)
    put_folder(bob_session, "bob-pattern", {**FOLDER, "jobbergate.yaml": CONFIG + PATTERN_CONFIG})
    put_folder(bob_session, "bob-slow", {**FOLDER, "templates/job.sh.j2": SLOW_TEMPLATE})
    ordinary = ordinary_requests(server, 0)
    _, render, _ = ordinary[4]
    job_script = alice_session.request(timeout=30, **render).json()  # rendered: it can be submitted
    ordinary = ordinary_requests(server, job_script["id"])
    bob_script = bob_session.post(f"{server}/job-scripts", json={"name": "bob's"}, timeout=30).json()
    plan = attacks(server, bob_script["id"])

    marker = tmp_path / "marker"
    marker.write_text("before the attack")
    time.sleep(1.1)  # file times have one-second resolution on some file systems

    until = time.monotonic() + ATTACK_SECONDS
    seen: dict[str, set[int]] = {}
    attackers = [
        threading.Thread(target=attack, args=(session_for(bob), plan, until, seen, offset)) for offset in range(4)
    ]
    for thread in attackers:
        thread.start()
    latencies: list[float] = []
    slowest: list[tuple[float, str]] = []
    failures: list[str] = []
    index = 0
    while time.monotonic() < until:
        name, arguments, expected = ordinary[index % len(ordinary)]
        index += 1
        started = time.perf_counter()
        try:
            response = alice_session.request(timeout=30, **arguments)
            status = response.status_code
        except requests.RequestException as error:
            status, response = -1, error
        latencies.append(time.perf_counter() - started)
        slowest.append((latencies[-1], name))
        if status != expected:
            failures.append(f"{name}: {status} {getattr(response, 'text', response)!s:.200}")
        time.sleep(0.05)
    for thread in attackers:
        thread.join(timeout=60)

    assert not failures, failures
    p99 = statistics.quantiles(latencies, n=100)[98]
    print(
        f"alice: {len(latencies)} requests, p50 {statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"
    )
    print("alice's slowest:", [f"{name} {seconds:.2f} s" for seconds, name in sorted(slowest)[-8:]])
    print("bob's answers:", {name: sorted(map(str, codes)) for name, codes in seen.items()})
    assert len(latencies) > 50
    assert p99 < 1.0, f"alice's p99 was {p99:.2f} s"
    assert set(seen) == {name for name, _ in plan}, "every attack ran"
    for name, codes in seen.items():
        assert all(isinstance(code, int) and 400 <= code < 500 for code in codes), (name, codes)

    written = written_since(marker, exclude=[tmp_path])
    assert not written, f"written outside the data folder: {written[:20]}"


def written_since(marker: Path, *, exclude: list[Path]) -> list[str]:
    """Files newer than ``marker`` where the server could write outside its data folder: the repository (its
    working directory) and the home folder. Its HOME and TMPDIR point into the data folder, so Python's temporary
    files, the render workers' sockets land there; /tmp itself is left out because
    other programs on a shared machine write there all the time.

    Left out as well: ``exclude`` (this test's folder), ``__pycache__`` (Python's own byte-code cache, written by
    any import) and ``~/.cache``.
    """
    command = ["find", str(ROOT), str(Path.home()), "-xdev", "-newer", str(marker), "-type", "f"]
    for path in exclude:
        command += ["-not", "-path", f"{path}/*"]
    for pattern in ("*/__pycache__/*", f"{Path.home()}/.cache/*"):
        command += ["-not", "-path", pattern]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return [line for line in result.stdout.splitlines() if line]
