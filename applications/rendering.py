"""Rendering application templates: a bounded Jinja2 sandbox, run in worker processes with hard limits.

A template is user input. It renders in ``SandboxedEnvironment`` (no ``__class__``, ``__globals__``, unsafe
``format``), with operators that refuse to build huge values (``"x" * 10**10``, ``9 ** 9 ** 9``), an output size
limit, a wall-clock limit (``SIGALRM`` in the worker) and a memory limit (``RLIMIT_AS`` of the worker). Worker
processes are forkserver children, each behind its own pipe; a worker that dies or hangs is replaced and the
request gets a 422, while the server goes on serving others. Compiled templates are cached in each worker by the
hash of their source, so a template that did not change is never parsed again.

This module does not import Django: workers import only it (and ``jobbergate.syntax``, which does not either).
Uploaded sources are parsed here too (``check_sources``), under the same limits.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import os
import resource
import signal
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing.connection import Connection
from multiprocessing.util import Finalize
from typing import Any, TypeVar

from jinja2 import TemplateSyntaxError, Undefined, UndefinedError
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from jobbergate.syntax import syntax_problem

T = TypeVar("T")


class RenderError(Exception):
    """A template that cannot be rendered; the message says what to fix (shown to the client with a 422)."""


@dataclass(frozen=True)
class Limits:
    """What one render may take; the values come from settings (``applications.services.render_limits``)."""

    seconds: float
    output_bytes: int
    memory_bytes: int
    value_items: int = 1_000_000  # largest string or list an operator may build (not a setting)


class PrintedUndefined(Undefined):
    """An undefined variable may be tested (``if x``, ``x is defined``, ``x | default``) but not printed."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        # Name the variable whether it was looked up at the top level or under ``data``.
        return self._undefined_hint or f"'{self._undefined_name}' is undefined"

    def __str__(self) -> str:
        self._fail_with_undefined_error()
        return ""  # pragma: no cover - the line above raises


class BoundedSandbox(SandboxedEnvironment):
    """The sandbox, plus operators that refuse to build values larger than the limits allow."""

    intercepted_binops = frozenset({"*", "**", "+"})

    def __init__(self, limits: Limits):
        super().__init__(undefined=PrintedUndefined, autoescape=False, keep_trailing_newline=True)
        self.limits = limits

    def _size(self, value: Any) -> int | None:
        return len(value) if isinstance(value, (str, bytes, list, tuple)) else None

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        limit = self.limits.value_items
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                size = self._size(sequence)
                if size is not None and isinstance(count, int) and size * count > limit:
                    raise RenderError(f"A repetition would build {size * count:,} items; the limit is {limit:,}.")
        elif operator == "**":
            if isinstance(left, (int, float)) and isinstance(right, (int, float)) and abs(left) > 1:
                digits = abs(right) * math.log10(abs(left))
                if digits > 1000:
                    raise RenderError(f"A power would have about {digits:,.0f} digits; the limit is 1,000.")
        elif operator == "+":
            left_size, right_size = self._size(left), self._size(right)
            if left_size is not None and right_size is not None and left_size + right_size > limit:
                raise RenderError(f"A concatenation would build {left_size + right_size:,} items.")
        return super().call_binop(context, operator, left, right)


@lru_cache(maxsize=8)
def _environment(limits: Limits) -> BoundedSandbox:
    return BoundedSandbox(limits)


@lru_cache(maxsize=512)
def _compiled(source_hash: str, source: str, limits: Limits):
    """Compiled templates keyed by content hash (the source rides along for the first compile only)."""
    return _environment(limits).from_string(source)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def render_context(param_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters at the top level *and* under ``data``, so ``{{ x }}``, ``{{ data.x }}`` and both work.

    Upstream clients send ``{"data": {...}}``; then the inner dict is the parameters.
    """
    if set(param_dict) == {"data"} and isinstance(param_dict["data"], Mapping):
        params = dict(param_dict["data"])
    else:
        params = dict(param_dict)
    return {**params, "data": params}


def _render_one(name: str, source: str, context: dict[str, Any], limits: Limits) -> str:
    size = 0
    chunks = []
    try:
        # Compiling is under the same guard as rendering: Jinja2 works out filters of constant arguments while it
        # compiles ('%0600000000d'|format(1) builds 600 MB there).
        template = _compiled(content_hash(source), source, limits)
        for chunk in template.generate(context):  # a dict, not **kwargs: a parameter may be named 'self'
            size += len(chunk)
            if size > limits.output_bytes:
                raise RenderError(f"the output is larger than {limits.output_bytes:,} bytes.")
            chunks.append(chunk)
    except TemplateSyntaxError as error:
        raise RenderError(f"{name}: template syntax error on line {error.lineno}: {error.message}") from None
    except UndefinedError as error:
        raise RenderError(f"{name}: {error.message} (the template prints a variable no parameter defines)") from None
    except SecurityError as error:
        raise RenderError(f"{name}: the template tried something the sandbox forbids: {error}") from None
    except RecursionError:
        raise RenderError(f"{name}: the template recurses too deeply.") from None
    except MemoryError:
        raise RenderError(f"{name}: the template needs more memory than allowed.") from None
    except RenderError as error:
        raise RenderError(f"{name}: {error}") from None
    except (TypeError, ValueError, ArithmeticError, AttributeError, LookupError) as error:
        raise RenderError(f"{name}: {error.__class__.__name__}: {error}") from None
    return "".join(chunks)


class _Deadline(BaseException):
    """The render's time is up. Not an ``Exception``: Jinja2 catches every ``Exception`` while it folds constants at
    compile time (and gives up folding), which swallowed the alarm and let the template run on past its limit."""


_alarm_armed = False  # whether SIGALRM may stop what runs (only the main thread sets it: signals run there)


def _on_alarm(signum, frame):
    if _alarm_armed:
        raise _Deadline()


def _within_deadline(seconds: float, message: str, function: Callable[..., T], *arguments: Any) -> T:
    """``function(*arguments)``, stopped after ``seconds`` with a ``RenderError(message)``.

    In a worker this runs in the main thread, where ``SIGALRM`` can interrupt a runaway loop; elsewhere (a test
    calling in-process from another thread) there is no deadline. The alarm may land anywhere, also as the function
    returns or while its exception (a ``MemoryError``, say) leaves: until the alarm is disarmed, a ``_Deadline``
    from any of those places becomes the ``RenderError``, and once disarmed a late alarm does nothing. (A
    ``contextlib`` manager could not promise that: an alarm landing in its ``__exit__``, before it resumes the
    generator, escaped as a ``_Deadline``.)
    """
    global _alarm_armed
    if threading.current_thread() is not threading.main_thread():
        return function(*arguments)
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    try:
        try:
            _alarm_armed = True
            signal.setitimer(signal.ITIMER_REAL, seconds)
            return function(*arguments)
        finally:
            _alarm_armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Deadline:
        raise RenderError(message) from None
    finally:
        signal.signal(signal.SIGALRM, previous)


def _render_each(templates: dict[str, str], context: dict[str, Any], limits: Limits) -> dict[str, str]:
    return {name: _render_one(name, source, context, limits) for name, source in templates.items()}


def render_all(templates: dict[str, str], param_dict: Mapping[str, Any], limits: Limits) -> dict[str, str]:
    """Render every template with the same parameters, within the limits (in the calling process)."""
    message = f"Rendering took longer than {limits.seconds:g} s and was stopped."
    return _within_deadline(limits.seconds, message, _render_each, templates, render_context(param_dict), limits)


def _syntax_problems(sources: dict[str, str]) -> list[str]:
    try:
        return [problem for name, text in sources.items() if (problem := syntax_problem(name, text))]
    except MemoryError:
        raise RenderError("Checking the syntax needed more memory than allowed: the file is too complex.") from None


def check_sources(sources: dict[str, str], limits: Limits) -> list[str]:
    """The syntax problems of uploaded sources by file name (``jobbergate.syntax``), within the same time limit.

    Parsing is costly for large inputs (a megabyte of Jinja2 or YAML takes seconds and ``ast`` can take a gigabyte),
    so it runs here, in a worker, and never in a web worker.
    """
    message = f"Checking the syntax took longer than {limits.seconds:g} s and was stopped: the file is too complex."
    return _within_deadline(limits.seconds, message, _syntax_problems, sources)


SBATCH_HEADER = "# Slurm options added by Jobbergate (sbatch_params)"


def inject_sbatch_params(script: str, params: list[str]) -> str:
    """Put a header comment and one ``#SBATCH`` line per parameter before the first line that is neither blank
    nor a comment, so they follow the shebang and the script's own ``#SBATCH`` lines."""
    if not params:
        return script
    lines = script.splitlines(keepends=True)
    position = next(
        (index for index, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")),
        len(lines),
    )
    if position == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    block = [SBATCH_HEADER + "\n"] + [f"#SBATCH {param}\n" for param in params]
    return "".join(lines[:position] + block + lines[position:])


# Worker processes ------------------------------------------------------------------------------------------


def _init_worker(memory_bytes: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    except (ValueError, OSError):
        pass


def _serve(connection: Connection, memory_bytes: int) -> None:
    """A render worker's life: run each ``(function, arguments)`` that comes down the pipe and send back
    ``(True, result)`` or ``(False, exception)``, until the server closes the pipe."""
    _init_worker(memory_bytes)
    while True:
        try:
            function, arguments = connection.recv()
        except (EOFError, OSError):
            return
        try:
            answer = (True, function(*arguments))
        except Exception as error:  # sent back to be raised in the server, as the function raised it
            answer = (False, error)
        try:
            connection.send(answer)
        except Exception as error:  # an answer that cannot be pickled: say so rather than leave the server waiting
            connection.send((False, RenderError(f"the worker could not send its answer back: {error}")))


class _Worker:
    """One render worker process and the pipe to it (one call at a time)."""

    def __init__(self, context, memory_bytes: int):
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, memory_bytes), daemon=True)
        self.process.start()
        child.close()  # the worker's end lives in the worker: its death is our end-of-file

    def call(self, seconds: float, function, arguments: tuple) -> tuple[bool, Any]:
        """``(ok, value)``; ``_Overrun`` when no answer came within ``seconds``, ``EOFError`` when the worker died."""
        self.connection.send((function, arguments))
        if not self.connection.poll(seconds):
            raise _Overrun()
        return self.connection.recv()

    def kill(self) -> None:
        self.connection.close()
        if self.process.pid is not None and self.process.exitcode is None:
            self.process.kill()
        self.process.join(timeout=5)


class _Overrun(Exception):
    pass


GRACE_SECONDS = 5.0  # how much longer than the render limit the server waits before it kills a worker


class RenderPool:
    """A small pool of render workers; a worker that dies or overruns is replaced, never waited on forever.

    Each worker is a forkserver process behind its own pipe, called from the server thread that needs it: the
    arguments go down the pipe and the answer comes back to the waiting thread directly. (A ``ProcessPoolExecutor``
    passes each call through two helper threads of the server process, which cost 0.1 ms of its interpreter per
    render and, with the other request thread busy, a wait for the interpreter lock at each hand-over.)
    """

    def __init__(self, workers: int, limits: Limits):
        self.workers = workers
        self.limits = limits
        self._context = multiprocessing.get_context("forkserver")
        self._idle: list[_Worker] = []
        self._started: set[_Worker] = set()
        self._lock = threading.Condition()
        self._pid = os.getpid()
        _stop_at_exit(self)

    def _take(self) -> _Worker:
        with self._lock:
            while not self._idle and len(self._started) >= self.workers:
                self._lock.wait()
            if self._idle:
                return self._idle.pop()
            worker = _Worker(self._context, self.limits.memory_bytes)
            self._started.add(worker)
            return worker

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            if worker in self._started:
                self._idle.append(worker)
            self._lock.notify()

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            self._started.discard(worker)
            self._lock.notify()
        worker.kill()

    def stop(self) -> None:
        """End the workers now (they hold nothing worth waiting for); never those of the process this one was
        forked from, whose pools it holds copies of."""
        if self._pid != os.getpid():
            return
        with self._lock:
            workers, self._started, self._idle = list(self._started), set(), []
            self._lock.notify_all()
        for worker in workers:
            worker.kill()

    def render(self, templates: dict[str, str], param_dict: Mapping[str, Any]) -> dict[str, str]:
        return self._call("Rendering", render_all, templates, dict(param_dict), self.limits)

    def check_sources(self, sources: dict[str, str]) -> list[str]:
        return self._call("Checking the syntax", check_sources, sources, self.limits)

    def convert_workflow(self, source: str):
        """``applications.convert.convert_workflow`` in a worker: parsing Python is costly for a large file."""
        from applications.convert import convert_workflow

        return self._call("Reading the workflow", convert_workflow, source)

    def _call(self, what: str, function, *arguments):
        worker = self._take()
        try:
            ok, value = worker.call(self.limits.seconds + GRACE_SECONDS, function, arguments)
        except _Overrun:
            self._discard(worker)
            raise RenderError(f"{what} took longer than {self.limits.seconds:g} s and was stopped.") from None
        except (EOFError, OSError):
            self._discard(worker)
            raise RenderError(f"{what} needed more memory than allowed and was stopped.") from None
        except BaseException:
            self._discard(worker)  # the pipe may hold half a message: never reuse it
            raise
        if not ok and isinstance(value, (MemoryError, RecursionError)):
            # What the worker runs is the user's (a template, a file to parse): running out of memory or stack
            # there is the input's fault, and the worker starts afresh.
            self._discard(worker)
            reason = "needed more memory than allowed" if isinstance(value, MemoryError) else "nested too deeply"
            raise RenderError(f"{what} {reason} and was stopped.") from None
        self._give_back(worker)
        if not ok:
            raise value
        return value

    def __del__(self) -> None:
        # A pool goes with its thread (applications.services keeps one per thread): its workers end with it.
        self.stop()


_every_pool: weakref.WeakSet[RenderPool] = weakref.WeakSet()
_stopping_in: int | None = None  # the process whose exit stops its pools


def _stop_at_exit(pool: RenderPool) -> None:
    """Stop ``pool``'s workers when this process exits. A server worker that multiprocessing started (granian's are)
    joins its child processes as it exits, before the interpreter tells the pools' threads to stop: render workers
    waiting for work held the exit until the server killed it (30 s). Finalizers of priority >= 0 run before that
    join; multiprocessing clears them in a new process, so each process registers its own."""
    global _stopping_in
    _every_pool.add(pool)
    if _stopping_in != os.getpid():
        _stopping_in = os.getpid()
        Finalize(None, _stop_every_pool, exitpriority=10)


def _stop_every_pool() -> None:
    for pool in list(_every_pool):
        pool.stop()
