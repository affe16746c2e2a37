"""A job's output: the agent appends chunks by offset, people read them by offset, and a stream stays bounded."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from django.conf import settings

from submissions import output
from submissions.choices import JobSubmissionStatus as Status
from submissions.models import JobOutput, JobOutputChunk
from testkit.factories import make_submission

pytestmark = pytest.mark.django_db


def put(agent, submission_id: int, data: bytes, *, offset, stream: str = "stdout", complete: bool = False):
    query = f"offset={offset}" + ("&complete=true" if complete else "")
    return agent.client.put(
        f"/jobbergate/job-submissions/agent/{submission_id}/output/{stream}?{query}",
        data,
        content_type="application/octet-stream",
    )


def get(persona, submission_id: int, query: str = "", stream: str = "stdout"):
    return persona.client.get(f"/jobbergate/job-submissions/{submission_id}/output/{stream}?{query}")


@pytest.fixture
def running(alice):
    return make_submission(alice.email, client_id="cluster-a", status=Status.SUBMITTED, slurm_job_id=7)


class TestAppend:
    def test_chunks_append_in_order_and_a_repeated_chunk_changes_nothing(self, agent, alice, running):
        assert put(agent, running.pk, b"line 1\n", offset=0).json() == {"length": 7, "complete": False}
        assert put(agent, running.pk, b"line 2\n", offset=7).json()["length"] == 14
        again = put(agent, running.pk, b"line 2\n", offset=7)  # the agent retried after a lost answer
        assert again.status_code == 409 and again.json()["length"] == 14
        ahead = put(agent, running.pk, b"x", offset=99)
        assert ahead.status_code == 409 and ahead.json()["length"] == 14
        assert get(alice, running.pk).content == b"line 1\nline 2\n"

    def test_the_final_call_completes_the_stream_and_nothing_comes_after(self, agent, alice, running):
        put(agent, running.pk, b"done\n", offset=0)
        assert put(agent, running.pk, b"", offset=5, complete=True).json() == {"length": 5, "complete": True}
        assert put(agent, running.pk, b"", offset=5, complete=True).status_code == 200  # the same call again
        assert put(agent, running.pk, b"late", offset=5).status_code == 409
        response = get(alice, running.pk)
        assert response["X-Jobbergate-Complete"] == "true" and response["X-Jobbergate-Next-Offset"] == "5"

    def test_any_bytes_pass_through_unchanged(self, agent, alice, running):
        raw = bytes(range(256)) + "é€\n".encode("latin-1", "replace")
        put(agent, running.pk, raw, offset=0, stream="stderr")
        assert get(alice, running.pk, stream="stderr").content == raw
        assert get(alice, running.pk).content == b""  # stdout is its own stream

    def test_another_clusters_agent_or_a_person_cannot_append(self, agent, alice, running):
        other = make_submission(alice.email, client_id="cluster-b", status=Status.SUBMITTED, slurm_job_id=8)
        assert put(agent, other.pk, b"x", offset=0).status_code == 404
        response = alice.client.put(
            f"/jobbergate/job-submissions/agent/{running.pk}/output/stdout?offset=0",
            b"x",
            content_type="application/octet-stream",
        )
        assert response.status_code == 403
        assert not JobOutputChunk.objects.exists()

    @pytest.mark.parametrize("query", ["", "offset=-1", "offset=abc", "offset=1e3", "offset=99999999999999999999"])
    def test_a_bad_offset_is_a_400(self, agent, running, query):
        response = agent.client.put(
            f"/jobbergate/job-submissions/agent/{running.pk}/output/stdout?{query}",
            b"x",
            content_type="application/octet-stream",
        )
        assert response.status_code == 400, response.content
        assert not JobOutputChunk.objects.exists()

    def test_an_unknown_stream_and_an_oversized_chunk_are_refused(self, agent, running):
        assert put(agent, running.pk, b"x", offset=0, stream="stdin").status_code == 400
        big = b"x" * (settings.OUTPUT_CHUNK_MAX_BYTES + 1)
        assert put(agent, running.pk, big, offset=0).status_code == 413
        assert not JobOutputChunk.objects.exists()


class TestRead:
    def test_offsets_and_limits(self, agent, alice, running):
        put(agent, running.pk, b"0123456789", offset=0)
        response = get(alice, running.pk, "offset=3&limit=4")
        assert response.content == b"3456"
        assert (response["X-Jobbergate-Offset"], response["X-Jobbergate-Next-Offset"]) == ("3", "7")
        assert response["X-Jobbergate-Length"] == "10" and response["X-Jobbergate-Complete"] == "false"
        assert get(alice, running.pk, "offset=10").content == b""

    @pytest.mark.parametrize("query", ["offset=-5", "offset=11", "offset=x", "limit=0", "limit=abc"])
    def test_a_bad_offset_or_limit_is_a_400(self, agent, alice, running, query):
        put(agent, running.pk, b"0123456789", offset=0)
        assert get(alice, running.pk, query).status_code == 400

    def test_another_users_output_is_a_404_and_an_admin_reads_it(self, agent, alice, bob, carol, running):
        put(agent, running.pk, b"secret\n", offset=0)
        assert get(bob, running.pk).status_code == 404
        assert get(carol, running.pk).content == b"secret\n"

    def test_a_person_reading_makes_the_submission_watched_for_the_agent(self, agent, alice, running):
        put(agent, running.pk, b"x", offset=0)
        active = agent.client.get("/jobbergate/job-submissions/agent/active").json()["items"]
        assert [row["output_watched"] for row in active] == [False]
        get(agent, running.pk)  # the agent reading is not a person watching
        assert (
            agent.client.get("/jobbergate/job-submissions/agent/active").json()["items"][0]["output_watched"] is False
        )
        get(alice, running.pk)
        assert agent.client.get("/jobbergate/job-submissions/agent/active").json()["items"][0]["output_watched"] is True


class TestBounds:
    def test_past_the_cap_the_head_and_the_latest_tail_stay(self, agent, alice, running, settings):
        settings.OUTPUT_MAX_BYTES = 40
        settings.OUTPUT_CHUNK_MAX_BYTES = 10
        for index in range(10):  # 100 bytes, ten chunks of ten: "0000000000", "1111111111", ...
            put(agent, running.pk, str(index).encode() * 10, offset=index * 10)
        output = JobOutput.objects.get()
        assert (output.length, output.stored, output.dropped_from, output.dropped_to) == (100, 40, 20, 80)
        head = get(alice, running.pk, "offset=0&limit=1000")
        assert head.content == b"0" * 10 + b"1" * 10  # stops at the gap: the reader asks on from the next offset
        assert head["X-Jobbergate-Dropped"] == "20-80" and head["X-Jobbergate-Next-Offset"] == "20"
        tail = get(alice, running.pk, "offset=20")
        assert tail["X-Jobbergate-Offset"] == "80" and tail.content == b"8" * 10 + b"9" * 10
        assert JobOutputChunk.objects.count() == 4

    def test_deleting_a_submission_deletes_its_output_and_the_stored_bytes(
        self, agent, alice, running, django_capture_on_commit_callbacks
    ):
        put(agent, running.pk, b"x" * (settings.OUTPUT_INLINE_MAX_BYTES + 1), offset=0)  # large: a file of its own
        folder = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
        stored = [folder / key for key in JobOutputChunk.objects.values_list("storage_key", flat=True)]
        assert stored and all(path.exists() for path in stored)
        with django_capture_on_commit_callbacks(execute=True):
            assert alice.client.delete(f"/jobbergate/job-submissions/{running.pk}").status_code == 204
        assert not JobOutput.objects.exists() and not any(path.exists() for path in stored)

    def test_a_small_chunk_is_kept_in_its_row_and_a_large_one_in_the_file_storage(self, agent, alice, running):
        small, large = b"a line\n", b"y" * (settings.OUTPUT_INLINE_MAX_BYTES + 1)
        put(agent, running.pk, small, offset=0)
        put(agent, running.pk, large, offset=len(small))
        first, second = JobOutputChunk.objects.order_by("offset")
        assert (bytes(first.content), first.storage_key) == (small, "")
        assert second.content is None and second.storage_key
        folder = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
        assert (folder / second.storage_key).read_bytes() == large
        assert get(alice, running.pk, f"limit={len(small) + len(large)}").content == small + large

    def test_once_complete_the_rows_move_to_the_file_storage_in_pieces_of_at_most_a_chunk(
        self, agent, alice, running, settings
    ):
        settings.OUTPUT_CHUNK_MAX_BYTES = 64  # pieces of at most 64 bytes: 19-byte lines make runs of 3
        settings.OUTPUT_INLINE_MAX_BYTES = 30
        lines = [f"line {n:02} of the job\n".encode() for n in range(10)]  # 19 bytes each
        offset = 0
        for line in lines[:5]:
            put(agent, running.pk, line, offset=offset)
            offset += len(line)
        large = b"L" * 40  # past the inline size: a file of its own, which breaks the run
        put(agent, running.pk, large, offset=offset)
        offset += len(large)
        for line in lines[5:]:
            put(agent, running.pk, line, offset=offset)
            offset += len(line)
        assert JobOutputChunk.objects.filter(content__isnull=False).count() == 10  # live: in rows
        put(agent, running.pk, b"", offset=offset, complete=True)
        chunks = list(JobOutputChunk.objects.order_by("offset"))
        assert all(chunk.content is None and chunk.storage_key for chunk in chunks)  # all in the file storage
        assert [chunk.size for chunk in chunks] == [57, 38, 40, 57, 38]
        expected = b"".join(lines[:5]) + large + b"".join(lines[5:])
        assert get(alice, running.pk, f"limit={len(expected)}").content == expected
        assert put(agent, running.pk, b"", offset=offset, complete=True).status_code == 200  # sent again: unchanged
        assert list(JobOutputChunk.objects.order_by("offset")) == chunks


def test_the_admin_shows_each_streams_size_and_its_first_and_last_lines(agent, running, admin_client):
    lines = b"".join(f"line {n}\n".encode() for n in range(1, 101))
    put(agent, running.pk, lines, offset=0)
    page = admin_client.get(f"/admin/submissions/jobsubmission/{running.pk}/change/").content.decode()
    assert "stdout</strong>: 792 bytes (still coming)" in page
    assert "line 1\nline 2\nline 3\nline 4\nline 5</pre>" in page
    assert "line 96\nline 97\nline 98\nline 99\nline 100</pre>" in page


@pytest.mark.parametrize(
    ("content", "whole"),
    [
        (b"", 0),
        (b"plain", 5),
        ("a€".encode(), 4),
        ("a€".encode()[:3], 1),  # two of the euro's three bytes: held back
        ("a€".encode()[:2], 1),
        ("😀".encode()[:3], 0),
        ("😀".encode(), 4),
        (b"\xff\xfe", 2),  # not UTF-8: counted in
        (b"\x80\x80\x80\x80\x80", 5),  # continuation bytes with no lead
    ],
)
def test_whole_characters_leaves_a_cut_character_for_the_next_read(content, whole):
    assert output.whole_characters(content) == whole


def batch(agent, *pieces: dict):
    return agent.client.put(
        "/jobbergate/job-submissions/agent/output", {"pieces": list(pieces)}, content_type="application/json"
    )


def piece(submission_id: int, data: bytes, *, offset: int, stream: str = "stdout", complete: bool = False) -> dict:
    encoded = base64.b64encode(data).decode()
    return {"id": submission_id, "stream": stream, "offset": offset, "content": encoded, "complete": complete}


class TestBatch:
    def test_many_jobs_streams_append_in_one_request_as_single_appends_would(self, agent, alice, running):
        second = make_submission(alice.email, client_id="cluster-a", status=Status.SUBMITTED, slurm_job_id=9)
        answer = batch(
            agent,
            piece(running.pk, b"out 1\n", offset=0),
            piece(running.pk, b"err 1\n", offset=0, stream="stderr"),
            piece(running.pk, b"out 2\n", offset=6),  # the same stream again: after the first
            piece(second.pk, b"other job\n", offset=0),
        )
        assert answer.status_code == 200, answer.content
        results = answer.json()["results"]
        assert [(row["id"], row["stream"], row["status_code"], row["length"]) for row in results] == [
            (running.pk, "stdout", 200, 6),
            (running.pk, "stderr", 200, 6),
            (running.pk, "stdout", 200, 12),
            (second.pk, "stdout", 200, 10),
        ]
        assert get(alice, running.pk).content == b"out 1\nout 2\n"
        assert get(alice, running.pk, stream="stderr").content == b"err 1\n"
        assert get(alice, second.pk).content == b"other job\n"
        # The single append goes on from where the batch left: one stream, whichever way it came.
        assert put(agent, running.pk, b"out 3\n", offset=12).json()["length"] == 18

    def test_a_conflicting_piece_tells_its_length_and_the_others_go_in(self, agent, alice, running):
        second = make_submission(alice.email, client_id="cluster-a", status=Status.SUBMITTED, slurm_job_id=9)
        put(agent, running.pk, b"already\n", offset=0)
        results = batch(
            agent,
            piece(running.pk, b"already\n", offset=0),  # a retry of what the server has
            piece(second.pk, b"fresh\n", offset=0),
        ).json()["results"]
        assert (results[0]["status_code"], results[0]["length"]) == (409, 8)
        assert "has 8 bytes" in results[0]["detail"]
        assert (results[1]["status_code"], results[1]["length"]) == (200, 6)
        assert get(alice, running.pk).content == b"already\n" and get(alice, second.pk).content == b"fresh\n"

    def test_another_clusters_or_an_unknown_submission_is_a_404_piece(self, agent, alice, running):
        other = make_submission(alice.email, client_id="cluster-b", status=Status.SUBMITTED, slurm_job_id=8)
        results = batch(
            agent, piece(other.pk, b"x", offset=0), piece(99999, b"x", offset=0), piece(running.pk, b"ok", offset=0)
        ).json()["results"]
        assert [row["status_code"] for row in results] == [404, 404, 200]
        assert not JobOutput.objects.filter(submission=other).exists()
        assert JobOutputChunk.objects.count() == 1

    def test_complete_ends_a_stream_and_nothing_comes_after(self, agent, alice, running):
        results = batch(
            agent,
            piece(running.pk, b"last\n", offset=0, complete=True),
            piece(running.pk, b"", offset=5, complete=True),  # the same final call again: fine
            piece(running.pk, b"late", offset=5),
        ).json()["results"]
        assert [(row["status_code"], row["complete"]) for row in results] == [(200, True), (200, True), (409, None)]
        assert results[2]["length"] == 5
        assert get(alice, running.pk)["X-Jobbergate-Complete"] == "true"

    def test_a_bad_stream_or_an_oversized_chunk_fails_that_piece_only(self, agent, running):
        big = b"x" * (settings.OUTPUT_CHUNK_MAX_BYTES + 1)
        results = batch(
            agent,
            piece(running.pk, b"x", offset=0, stream="stdin"),
            piece(running.pk, big, offset=0),
            piece(running.pk, b"fine", offset=0),
        ).json()["results"]
        assert [row["status_code"] for row in results] == [400, 413, 200]
        assert [chunk.size for chunk in JobOutputChunk.objects.all()] == [4]

    def test_too_many_pieces_or_too_many_bytes_are_refused_whole(self, agent, running, settings):
        settings.OUTPUT_BATCH_MAX_PIECES = 3
        four = [piece(running.pk, b"x", offset=n) for n in range(4)]
        assert batch(agent, *four).status_code == 422
        settings.OUTPUT_BATCH_MAX_BYTES = 10
        answer = batch(agent, piece(running.pk, b"x" * 6, offset=0), piece(running.pk, b"y" * 6, offset=6))
        assert answer.status_code == 413 and "at most 10 bytes" in answer.json()["detail"]
        assert not JobOutputChunk.objects.exists()

    def test_the_largest_batch_fits_the_request_body_limit(self, agent, alice):
        # 1000 pieces of 2 KiB each (2 MiB, base64 in JSON): within DATA_UPLOAD_MAX_MEMORY_SIZE, so no 413.
        size = settings.OUTPUT_BATCH_MAX_BYTES // settings.OUTPUT_BATCH_MAX_PIECES
        rows = [
            make_submission(alice.email, client_id="cluster-a", status=Status.SUBMITTED, slurm_job_id=n)
            for n in range(1, settings.OUTPUT_BATCH_MAX_PIECES // 2 + 1)
        ]
        pieces = [
            piece(row.pk, b"z" * size, offset=0, stream=stream) for row in rows for stream in ("stdout", "stderr")
        ]
        answer = batch(agent, *pieces)
        assert answer.status_code == 200, answer.content[:300]
        assert {row["status_code"] for row in answer.json()["results"]} == {200}
        assert JobOutputChunk.objects.count() == settings.OUTPUT_BATCH_MAX_PIECES

    @pytest.mark.parametrize(
        "change",
        [
            {"id": None},  # None: the field left out
            {"stream": None},
            {"offset": None},
            {"content": None},
            {"offset": -1},
            {"content": "not base64!"},
            {"content": 7},
            {"id": "one"},
            {"complete": "perhaps"},
        ],
    )
    def test_a_malformed_piece_refuses_the_batch_whole(self, agent, running, change):
        bad = {key: value for key, value in (piece(running.pk, b"x", offset=4) | change).items() if value is not None}
        answer = batch(agent, piece(running.pk, b"good", offset=0), bad)
        assert answer.status_code == 422, answer.content
        assert not JobOutputChunk.objects.exists()

    @pytest.mark.parametrize("body", [{}, {"pieces": []}, {"pieces": "x"}, {"pieces": [7]}, [], "text"])
    def test_a_batch_without_pieces_is_refused(self, agent, running, body):
        answer = agent.client.put("/jobbergate/job-submissions/agent/output", body, content_type="application/json")
        assert answer.status_code in (400, 422), answer.content

    def test_a_persons_token_cannot_append(self, alice, running):
        answer = batch(alice, piece(running.pk, b"x", offset=0))
        assert answer.status_code == 403
        assert not JobOutputChunk.objects.exists()

    def test_a_batch_locks_its_streams_in_one_query_and_writes_in_bulk(
        self, agent, alice, running, django_assert_max_num_queries
    ):
        rows = [running] + [
            make_submission(alice.email, client_id="cluster-a", status=Status.SUBMITTED, slurm_job_id=n)
            for n in range(10, 30)
        ]
        first = [piece(row.pk, b"a\n", offset=0, stream=stream) for row in rows for stream in ("stdout", "stderr")]
        batch(agent, *first)
        later = [piece(row.pk, b"b\n", offset=2, stream=stream) for row in rows for stream in ("stdout", "stderr")]
        with django_assert_max_num_queries(12):  # the token, the rows, the lock, the chunks, the streams; not per piece
            answer = batch(agent, *later)
        assert {row["status_code"] for row in answer.json()["results"]} == {200}
