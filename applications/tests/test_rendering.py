"""The render engine itself: context shape, sbatch injection, and the compiled-template cache."""

from __future__ import annotations

import pytest

from applications.rendering import (
    RenderError,
    _compiled,
    _within_deadline,
    inject_sbatch_params,
    render_all,
    render_context,
)
from applications.services import render_limits


def test_upstream_data_wrapper_is_unwrapped_and_kept_under_data():
    assert render_context({"data": {"x": 1}}) == {"x": 1, "data": {"x": 1}}
    assert render_context({"x": 1, "data": {"y": 2}}) == {"x": 1, "data": {"x": 1, "data": {"y": 2}}}


def test_unchanged_templates_are_compiled_once():
    source = "cache probe {{ x }} 7f3a"
    before = _compiled.cache_info().misses
    for value in range(5):
        assert render_all({"t": source}, {"x": value}, render_limits()) == {"t": f"cache probe {value} 7f3a"}
    assert _compiled.cache_info().misses == before + 1
    render_all({"t": source + " changed"}, {"x": 0}, render_limits())
    assert _compiled.cache_info().misses == before + 2


def test_undefined_may_be_tested_but_not_printed():
    limits = render_limits()
    source = "{% if a %}A{% endif %}{{ b | default('B') }}{% if c is defined %}C{% endif %}"
    assert render_all({"t": source}, {}, limits) == {"t": "B"}
    with pytest.raises(RenderError, match="'d' is undefined"):
        render_all({"t": "{{ d }}"}, {}, limits)


@pytest.mark.parametrize(
    "script, expected",
    [
        (
            "#!/bin/sh\necho hi\n",
            "#!/bin/sh\n# Slurm options added by Jobbergate (sbatch_params)\n#SBATCH -N1\necho hi\n",
        ),
        (
            "#!/bin/sh\n\n#SBATCH -t 5\n\necho",
            "#!/bin/sh\n\n#SBATCH -t 5\n\n# Slurm options added by Jobbergate (sbatch_params)\n#SBATCH -N1\necho",
        ),
        ("#!/bin/sh", "#!/bin/sh\n# Slurm options added by Jobbergate (sbatch_params)\n#SBATCH -N1\n"),
        ("", "# Slurm options added by Jobbergate (sbatch_params)\n#SBATCH -N1\n"),
    ],
)
def test_sbatch_lines_go_before_the_first_command(script, expected):
    assert inject_sbatch_params(script, ["-N1"]) == expected


def test_no_params_leave_the_script_alone():
    assert inject_sbatch_params("#!/bin/sh\necho\n", []) == "#!/bin/sh\necho\n"


def _render_in_a_server_thread(limits) -> None:
    """As a server worker does: a thread of the process keeps a render pool that has rendered."""
    import threading

    from applications.rendering import RenderPool

    pools = []

    def serve():
        pools.append(RenderPool(1, limits))
        assert pools[0].render({"a.j2": "{{ x }}"}, {"x": 1}) == {"a.j2": "1"}

    thread = threading.Thread(target=serve)
    thread.start()
    thread.join()


def test_a_worker_process_that_rendered_exits_without_waiting_for_its_render_workers(settings):
    """granian runs its workers as multiprocessing processes, which join their child processes as they exit: a
    render pool's idle workers held that exit until granian killed the worker, 30 s later."""
    import multiprocessing

    worker = multiprocessing.get_context("fork").Process(target=_render_in_a_server_thread, args=(render_limits(),))
    worker.start()
    worker.join(timeout=20)
    stuck = worker.is_alive()
    if stuck:
        worker.kill()
        worker.join()
    assert not stuck and worker.exitcode == 0


@pytest.fixture
def pool():
    from applications.rendering import Limits, RenderPool

    pool = RenderPool(1, Limits(seconds=0.5, output_bytes=1000, memory_bytes=512 * 1024 * 1024))
    yield pool
    pool.stop()


def test_a_worker_serves_call_after_call(pool):
    """The pipe to a worker stays open between renders: no process is started per render."""
    import os

    first = pool._call("Asking", os.getpid)
    assert first != os.getpid()
    assert pool._call("Asking", os.getpid) == first
    with pytest.raises(RenderError, match="'d' is undefined"):
        pool.render({"t": "{{ d }}"}, {})  # an error raised in the worker is raised here, and the worker stays
    assert pool._call("Asking", os.getpid) == first


def test_a_worker_that_dies_is_replaced(pool):
    import os

    first = pool._call("Asking", os.getpid)
    with pytest.raises(RenderError, match="Dying needed more memory than allowed"):
        pool._call("Dying", os._exit, 3)
    assert pool.render({"t": "{{ x }}"}, {"x": 2}) == {"t": "2"}
    assert pool._call("Asking", os.getpid) != first


def test_running_out_of_memory_or_stack_in_a_worker_is_the_input_s_fault(pool):
    """A MemoryError or RecursionError the worker sends back is a 422 message, and the worker starts afresh."""
    import json
    import os

    first = pool._call("Asking", os.getpid)
    with pytest.raises(RenderError, match="^Hogging needed more memory than allowed and was stopped"):
        pool._call("Hogging", bytearray, 1 << 40)
    second = pool._call("Asking", os.getpid)
    assert second != first
    with pytest.raises(RenderError, match="^Parsing nested too deeply and was stopped"):
        pool._call("Parsing", json.loads, "[" * 100_000)
    assert pool._call("Asking", os.getpid) != second


def test_the_deadline_s_alarm_never_escapes_as_itself():
    """The alarm may land anywhere: in the body, as it returns, while its exception leaves, or as the alarm is
    disarmed. Every way out is the body's result, its own exception or the RenderError. Deadlines about as long as
    the body make the alarm land at every point of the way out: before the alarm was handled inside the guard,
    2 to 7 tries of 4,000 let it escape as the private _Deadline (a 500 in the server)."""

    def body(attempt: int) -> int:
        total = 0
        for number in range(2000 + (attempt % 37) * 200):
            total += number
        if attempt % 2:
            raise MemoryError
        return total

    outcomes = {"done": 0, "stopped": 0, "its own": 0}
    for attempt in range(4000):
        try:
            _within_deadline(0.0001 + (attempt % 20) * 0.00001, "stopped", body, attempt)
        except RenderError:
            outcomes["stopped"] += 1
        except MemoryError:
            outcomes["its own"] += 1
        else:
            outcomes["done"] += 1
    assert sum(outcomes.values()) == 4000
    assert outcomes["stopped"], outcomes


def test_the_deadline_holds_while_jinja2_folds_constants():
    """Jinja2 folds filters of constant arguments while it compiles and gives up on any Exception there; the alarm
    landing in a fold was swallowed and the template ran on (here 0.34 s past a 0.05 s limit)."""
    from applications.rendering import Limits

    folds = "{% if ('%030000000d'|format(1)) == 'x' %}{% endif %}" * 12  # about 0.2 s of compiling
    loop = "{% for i in range(100000) %}{% for j in range(30) %}{% endfor %}{% endfor %}"
    with pytest.raises(RenderError, match="took longer than 0.05 s"):
        render_all({"t": folds + loop + "done"}, {}, Limits(seconds=0.05, output_bytes=1000, memory_bytes=1 << 30))


def test_a_worker_that_will_not_answer_is_killed_and_replaced(pool, monkeypatch):
    """The worker stops a render itself at the limit (SIGALRM); one that still does not answer (stuck in C, the
    signal blocked) is killed a grace period later and the request gets its 422 message."""
    import os
    import time

    from applications import rendering

    monkeypatch.setattr(rendering, "GRACE_SECONDS", 0.5)
    first = pool._call("Asking", os.getpid)
    started = time.monotonic()
    with pytest.raises(RenderError, match="Sleeping took longer than 0.5 s and was stopped"):
        pool._call("Sleeping", time.sleep, 60)
    assert time.monotonic() - started < 10
    assert pool.render({"t": "{{ x }}"}, {"x": 3}) == {"t": "3"}
    assert pool._call("Asking", os.getpid) != first
    with pytest.raises(ProcessLookupError):
        os.kill(first, 0)  # killed and reaped, not left behind
