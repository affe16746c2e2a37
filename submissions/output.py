"""A job's output, shipped by the agent while the job runs: append by offset, read by offset, keep a bounded amount.

The protocol is GitLab Runner's job trace: the agent sends each stream (stdout, stderr) as chunks addressed by
byte offset, and the server appends a chunk only when its offset is the stream's current length; any other offset
is a Conflict that tells the length, so a retried or duplicated chunk changes nothing and the agent resumes from
there. Each chunk is kept on its own, never the whole stream in memory: a small one in its row, a larger one through
Django's storage API (``jobbergate.files``). ``append_many`` takes many chunks of many streams in one transaction,
each judged by the rule ``append`` applies (``_add``).

Past ``OUTPUT_MAX_BYTES`` a stream keeps its head and its latest tail (half each) and drops the bytes between,
recording the gap (``dropped_from``..``dropped_to``); offsets keep counting every byte sent, so a reader's next
offset never changes meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

from jobbergate import files
from jobbergate.errors import Conflict, DomainError, Malformed, NotFound, TooLarge
from submissions.models import JobOutput, JobOutputChunk, JobSubmission, OutputStream

READ_LIMIT_MAX = 1024 * 1024
READ_LIMIT_DEFAULT = 256 * 1024
READ_CHUNKS_MAX = 256  # chunk rows one read looks at: a stream of tiny chunks is read in several calls


class OffsetConflict(Conflict):
    """A chunk sent at an offset other than the stream's length (``length``), or to a complete stream."""

    def __init__(self, message: str, *, length: int) -> None:
        super().__init__(message)
        self.length = length


def check_stream(stream: str) -> str:
    if stream not in OutputStream.values:
        raise Malformed(f"The stream is stdout or stderr, not {stream[:20]!r}.")
    return stream


@dataclass(frozen=True)
class Appended:
    length: int  # the stream's length after the append: the agent's next offset
    complete: bool


@dataclass(frozen=True)
class Piece:
    """One chunk of one stream to append: what a single append call carries, and one item of a batch."""

    submission_id: int
    stream: str
    offset: int
    content: bytes
    complete: bool = False


def append(*, submission: JobSubmission, stream: str, offset: int, content: bytes, complete: bool = False) -> Appended:
    """Append ``content`` at ``offset`` (which must be the stream's length) and, with ``complete``, mark the stream
    ended. A Conflict (carrying the length in its message) for any other offset or a complete stream."""
    [outcome] = _append_pieces({submission.pk}, [Piece(submission.pk, stream, offset, content, complete)])
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def append_many(*, client_id: str, pieces: list[Piece]) -> list[Appended | DomainError]:
    """Many appends from a cluster's agent in one transaction, each piece judged exactly as ``append`` judges one
    (``_add``), in order: its outcome, or the error that refused it (NotFound for a submission that is not the
    cluster's, Malformed, TooLarge, OffsetConflict). A refused piece changes nothing and fails no other piece. The
    batch as a whole is Malformed past ``OUTPUT_BATCH_MAX_PIECES`` pieces and TooLarge past
    ``OUTPUT_BATCH_MAX_BYTES`` bytes of content."""
    if len(pieces) > settings.OUTPUT_BATCH_MAX_PIECES:
        raise Malformed(f"A batch holds at most {settings.OUTPUT_BATCH_MAX_PIECES} pieces; this one has {len(pieces)}.")
    size = sum(len(piece.content) for piece in pieces)
    if size > settings.OUTPUT_BATCH_MAX_BYTES:
        raise TooLarge(f"A batch carries at most {settings.OUTPUT_BATCH_MAX_BYTES} bytes of output; this one {size}.")
    wanted = {piece.submission_id for piece in pieces}
    clusters = JobSubmission.objects.for_cluster(client_id).filter(pk__in=wanted).values_list("pk", flat=True)
    return _append_pieces(set(clusters), pieces)


@transaction.atomic
def _append_pieces(submissions: set[int], pieces: list[Piece]) -> list[Appended | DomainError]:
    """Append each piece to its stream (its submission's id must be in ``submissions``), the streams locked in one
    query, the new chunks inserted and the streams updated in one query each."""
    outcomes: list[Appended | DomainError | None] = [None] * len(pieces)
    streams: set[tuple[int, str]] = set()
    for index, piece in enumerate(pieces):
        if piece.submission_id not in submissions:
            outcomes[index] = NotFound(f"Submission {piece.submission_id} was not found for this cluster.")
            continue
        try:
            streams.add((piece.submission_id, check_stream(piece.stream)))
        except Malformed as error:
            outcomes[index] = error
    outputs = _locked_outputs(streams)
    chunks: list[JobOutputChunk] = []
    changed: dict[int, JobOutput] = {}
    for index, piece in enumerate(pieces):
        if outcomes[index] is not None:
            continue
        output = outputs[(piece.submission_id, piece.stream)]
        try:
            outcomes[index] = _add(output, piece, chunks)
        except (OffsetConflict, TooLarge) as error:
            outcomes[index] = error
            continue
        changed[output.pk] = output
    if chunks:
        JobOutputChunk.objects.bulk_create(chunks)
    for output in changed.values():
        _keep_within_cap(output)
        if output.complete:
            _archive(output)
    _write_streams(list(changed.values()))
    return [outcome for outcome in outcomes if outcome is not None]


def _write_streams(outputs: list[JobOutput]) -> None:
    """Save what appends changed in the stream rows, in one ``UPDATE ... FROM (VALUES ...)`` (PostgreSQL, and SQLite
    from 3.33). Django's ``bulk_update`` builds a CASE per row and column: 0.9 s of Python for 200 rows, measured."""
    if not outputs:
        return
    now = timezone.now()
    for output in outputs:
        output.updated_at = now
    table = connection.ops.quote_name(JobOutput._meta.db_table)
    row = "(CAST(%s AS bigint), CAST(%s AS bigint), CAST(%s AS bigint), CAST(%s AS bigint), CAST(%s AS bigint), "
    row += "CAST(%s AS boolean))"
    values = [
        value
        for output in outputs
        for value in (output.pk, output.length, output.stored, output.dropped_from, output.dropped_to, output.complete)
    ]
    updated_at = JobOutput._meta.get_field("updated_at").get_db_prep_value(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET length = v.column2, stored = v.column3, dropped_from = v.column4, "
            f"dropped_to = v.column5, complete = v.column6, updated_at = %s "
            f"FROM (VALUES {', '.join([row] * len(outputs))}) AS v WHERE {table}.id = v.column1",
            [updated_at, *values],
        )


def _locked_outputs(streams: set[tuple[int, str]]) -> dict[tuple[int, str], JobOutput]:
    """The rows of ``streams`` (submission id, stream), created when missing, locked (``FOR UPDATE``) in id order."""
    submission_ids = {submission_id for submission_id, _ in streams}

    def locked() -> dict[tuple[int, str], JobOutput]:
        rows = JobOutput.objects.select_for_update().filter(submission_id__in=submission_ids).order_by("pk")
        return {(row.submission_id, row.stream): row for row in rows}

    found = locked() if streams else {}
    missing = streams - found.keys()
    if missing:
        JobOutput.objects.bulk_create(
            [JobOutput(submission_id=submission_id, stream=stream) for submission_id, stream in sorted(missing)],
            ignore_conflicts=True,  # another request may create one meanwhile: then it is locked below
        )
        found = locked()
    return found


def _add(output: JobOutput, piece: Piece, chunks: list[JobOutputChunk]) -> Appended:
    """The rule of one append, on a locked stream: the chunk's size, its offset (the stream's length, else a
    Conflict that tells the length), nothing after the stream is complete. The bytes are stored; the chunk's row is
    added to ``chunks`` and the stream's row changed in memory, for the caller to write."""
    if len(piece.content) > settings.OUTPUT_CHUNK_MAX_BYTES:
        raise TooLarge(f"A chunk is at most {settings.OUTPUT_CHUNK_MAX_BYTES} bytes; this one is {len(piece.content)}.")
    if output.complete:
        if piece.offset == output.length and not piece.content:
            return Appended(output.length, True)  # the same final call again
        raise OffsetConflict(
            f"The {output.stream} of submission {piece.submission_id} is complete at {output.length} bytes.",
            length=output.length,
        )
    if piece.offset != output.length:
        raise OffsetConflict(
            f"The {output.stream} of submission {piece.submission_id} has {output.length} bytes; send from there.",
            length=output.length,
        )
    if piece.content:
        chunk = JobOutputChunk(output=output, offset=output.length, size=len(piece.content))
        if len(piece.content) <= settings.OUTPUT_INLINE_MAX_BYTES:
            chunk.content = piece.content
        else:
            chunk.storage_key = files.store_content(f"output/{piece.submission_id}", piece.content)
        chunks.append(chunk)
        output.length += len(piece.content)
        output.stored += len(piece.content)
    output.complete = piece.complete
    return Appended(output.length, output.complete)


def _archive(output: JobOutput) -> None:
    """A completed stream's chunks kept in rows (live output, small and many) move to Django's storage API, runs of
    contiguous ones merged into pieces of at most ``OUTPUT_CHUNK_MAX_BYTES``: the shape of GitLab's job traces,
    live chunks in the database and archived once the job ends. Read a few rows at a time, so a stream is never in
    memory whole; a stream with nothing left in rows (a final call sent again) costs one query."""
    archived: list[JobOutputChunk] = []
    moved: list[int] = []
    run: list[JobOutputChunk] = []

    def flush() -> None:
        if run:
            content = b"".join(bytes(chunk.content) for chunk in run)
            key = files.store_content(f"output/{output.submission_id}", content)
            archived.append(JobOutputChunk(output=output, offset=run[0].offset, size=len(content), storage_key=key))
            moved.extend(chunk.pk for chunk in run)
            run.clear()

    size = 0
    inline = output.chunks.filter(content__isnull=False).order_by("offset")
    for chunk in inline.iterator(chunk_size=64):
        contiguous = run and run[-1].offset + run[-1].size == chunk.offset
        if not contiguous or size + chunk.size > settings.OUTPUT_CHUNK_MAX_BYTES:
            flush()
            size = 0
        run.append(chunk)
        size += chunk.size
    flush()
    if moved:
        # Their bytes are in the new pieces now: the rows go without reading their content again.
        JobOutputChunk.objects.filter(pk__in=moved).only("pk", "storage_key").delete()
        JobOutputChunk.objects.bulk_create(archived)


def _keep_within_cap(output: JobOutput) -> None:
    """Drop the oldest chunks after the head until the stream keeps at most OUTPUT_MAX_BYTES."""
    head = settings.OUTPUT_MAX_BYTES // 2
    while output.stored > settings.OUTPUT_MAX_BYTES:
        victim = output.chunks.filter(offset__gte=head).order_by("offset").first()
        if victim is None or victim.offset + victim.size == output.length:
            return  # only the newest chunk is left after the head: keep what was just sent
        output.stored -= victim.size
        output.dropped_from = victim.offset if output.dropped_from is None else output.dropped_from
        output.dropped_to = victim.offset + victim.size
        victim.delete()  # its bytes go on commit (_discard_deleted_chunk)


@dataclass(frozen=True)
class Read:
    content: bytes
    offset: int  # where ``content`` starts (past a dropped gap, it starts later than asked)
    next_offset: int
    length: int
    complete: bool
    dropped_from: int | None
    dropped_to: int | None


def read(*, submission: JobSubmission, stream: str, offset: int, limit: int = READ_LIMIT_DEFAULT) -> Read:
    """The bytes of a stream from ``offset``, at most ``limit`` of them; a negative offset counts from the end (the
    last ``-offset`` bytes). An offset past the end is Malformed."""
    check_stream(stream)
    limit = max(1, min(limit, READ_LIMIT_MAX))
    output = JobOutput.objects.filter(submission=submission, stream=stream).first()
    length = output.length if output else 0
    if offset < 0:
        offset = max(0, length + offset)
    if offset > length:
        raise Malformed(f"The {stream} has {length} bytes; offset {offset} is past its end.")
    if output is None:
        return Read(b"", offset, offset, 0, False, None, None)
    if output.dropped_from is not None and output.dropped_from <= offset < (output.dropped_to or 0):
        offset = output.dropped_to or offset  # the bytes asked for were dropped: go on after the gap
    first = output.chunks.filter(offset__lte=offset).order_by("-offset").first()
    following = output.chunks.filter(offset__gt=offset).order_by("offset")[:READ_CHUNKS_MAX]
    content = bytearray()
    position = offset
    for chunk in ([first] if first is not None else []) + list(following):
        if chunk.offset + chunk.size <= position:
            continue
        if chunk.offset > position:
            break  # never expected (chunks are contiguous outside the dropped gap): the reader asks again
        data = chunk.load()
        piece = data[position - chunk.offset : position - chunk.offset + limit - len(content)]
        content += piece
        position += len(piece)
        if len(content) >= limit:
            break
    return Read(
        bytes(content),
        offset,
        position,
        length,
        output.complete and position == length,
        output.dropped_from,
        output.dropped_to,
    )


def mark_read(*, submission: JobSubmission) -> None:
    """A person read the output: the agent ships it every cycle for a while (``watched``). One write per
    few seconds at most, however often a page polls."""
    now = timezone.now()
    stale = now - timedelta(seconds=5)
    JobOutput.objects.filter(submission=submission).filter(Q(last_read=None) | Q(last_read__lt=stale)).update(
        last_read=now
    )


@receiver(post_delete, sender=JobOutputChunk, dispatch_uid="submissions.output.discard_chunk")
def _discard_deleted_chunk(sender, instance: JobOutputChunk, **kwargs) -> None:
    """A chunk's bytes go with its row, however it went (a deleted submission takes its output with it)."""
    files.discard_content([instance.storage_key])


def dropped_note(count: int) -> str:
    """The line a reader of the text is shown where ``count`` bytes were dropped past the server's limit."""
    return f"[… {count:,} bytes dropped past the server's limit …]\n"


def read_all(*, submission: JobSubmission, stream: str):
    """Every kept byte of a stream, piece by piece (for a download that never holds the whole stream at once), with
    the ``dropped_note`` where the bytes past the limit were."""
    offset = 0
    line_ended = True
    while True:
        part = read(submission=submission, stream=stream, offset=offset, limit=READ_LIMIT_MAX)
        if part.offset > offset:
            yield (("" if line_ended else "\n") + dropped_note(part.offset - offset)).encode()
        if part.content:
            line_ended = part.content.endswith(b"\n")
            yield part.content
        if part.next_offset >= part.length or not part.content:
            return
        offset = part.next_offset


def whole_characters(content: bytes) -> int:
    """How many leading bytes of ``content`` end on a UTF-8 character: a character that a read's limit (or the
    agent's chunk) cut in two is left for the next read, so a reader that decodes each part shows it whole. Bytes
    that are not UTF-8 at all are counted in (readers decode them as they like)."""
    for back in range(1, min(4, len(content)) + 1):
        byte = content[-back]
        if byte & 0xC0 == 0x80:
            continue  # a continuation byte: its character starts further back
        size = 2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4 if byte >> 3 == 0b11110 else 1
        return len(content) - back if size > back else len(content)
    return len(content)


def summary(output: JobOutput, *, lines: int = 5, window: int = 4096) -> tuple[str, str]:
    """The first and the last ``lines`` lines of a stream (within ``window`` bytes at each end), as text."""
    head = read(submission=output.submission, stream=output.stream, offset=0, limit=window).content
    start = max(output.dropped_to or 0, output.length - window)
    tail = read(submission=output.submission, stream=output.stream, offset=start, limit=window).content
    first = head.decode("utf-8", "replace").splitlines()[:lines]
    last = tail.decode("utf-8", "replace").splitlines()[-lines:]
    return "\n".join(first), "\n".join(last)
