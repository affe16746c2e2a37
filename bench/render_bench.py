"""Renders per second through the API versus plain Jinja2 in one process, for a typical application.

The application: one entrypoint and one support template, 20 parameters. The API side sends
``POST /jobbergate/job-scripts/render-from-template/{id}`` in-process through Django's WSGI handler (token
checked, templates read from storage, rendered in the sandboxed worker pool, job script and files stored). The
plain side renders the same two templates with ``jinja2.Environment`` compiled once. Each side runs for
``--seconds`` (bounded).

    ./bench/run-render [--seconds 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _setup import start_django

PARAMS = {f"param_{n}": f"value {n}" for n in range(17)} | {"job_name": "bench", "partition": "debug", "nodes": 2}
ENTRYPOINT = (
    "#!/bin/bash\n#SBATCH --job-name={{ job_name }}\n#SBATCH --partition={{ data.partition }}\n"
    "#SBATCH --nodes={{ nodes }}\n\n"
    + "".join(f"echo {{{{ param_{n} }}}}\n" for n in range(17))
    + "{% for i in range(nodes) %}srun hostname # {{ i }}\n{% endfor %}"
)
SUPPORT = "".join(f"param_{n}={{{{ data.param_{n} }}}}\n" for n in range(17))


def rate(call, seconds: float) -> tuple[float, int]:
    call()  # warm-up
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        call()
        count += 1
    return count / (time.perf_counter() - started), count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    start_django("jobbergate-render-bench-")
    import jinja2
    from django.conf import settings
    from rest_framework.test import APIClient

    from applications.services import upload_template_file
    from jobbergate.choices import USER_PERMISSIONS
    from testkit.factories import make_template
    from testkit.personas import make_persona

    alice = make_persona("alice@example.com", USER_PERMISSIONS)
    template = make_template(alice.email, identifier="bench", files=False)
    upload_template_file(template=template, file_type="ENTRYPOINT", filename="job.sh.j2", content=ENTRYPOINT.encode())
    upload_template_file(template=template, file_type="SUPPORT", filename="params.txt.j2", content=SUPPORT.encode())
    client = APIClient(SERVER_NAME="127.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {alice.token}")
    body = {
        "create_request": {"name": "bench"},
        "render_request": {
            "template_output_name_mapping": {"job.sh.j2": "job.sh", "params.txt.j2": "params.txt"},
            "sbatch_params": ["--time=10"],
            "param_dict": {"data": PARAMS},
        },
    }

    def through_api():
        response = client.post(f"/jobbergate/job-scripts/render-from-template/{template.pk}", body, format="json")
        assert response.status_code == 201, response.content[:300]

    environment = jinja2.Environment(keep_trailing_newline=True)
    compiled = [environment.from_string(ENTRYPOINT), environment.from_string(SUPPORT)]
    context = {**PARAMS, "data": PARAMS}

    def plain_jinja():
        for item in compiled:
            item.render(context)

    api_rate, api_count = rate(through_api, args.seconds)
    jinja_rate, jinja_count = rate(plain_jinja, args.seconds)
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print("\n| side | renders/s | renders | database |\n|---|---|---|---|")
    print(f"| API render-from-template (stores the job script) | {api_rate:.0f} | {api_count} | {engine} |")
    print(f"| plain Jinja2, compiled once, one process | {jinja_rate:.0f} | {jinja_count} | - |")
    print(f"\nratio plain Jinja2 / API: {jinja_rate / api_rate:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
