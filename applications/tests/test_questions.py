"""Typed questions: definitions checked, answers checked per field, and the JSON Schema the server publishes."""

from __future__ import annotations

import jsonschema
import pytest

from applications.questions import QuestionsError, check_questions, complete_answers, json_schema

QUESTIONS = [
    {"name": "partition", "type": "choice", "choices": ["debug", "compute"], "default": "debug"},
    {"name": "nodes", "type": "integer", "min": 1, "max": 8, "default": 1},
    {"name": "ratio", "type": "float", "min": 0.0, "max": 1.0, "default": 0.5},
    {"name": "job_name", "type": "text", "pattern": "^[a-z]+$", "default": "job"},
    {"name": "fields", "type": "multi_choice", "choices": ["p", "v"], "default": ["p"]},
    {"name": "scratch", "type": "boolean", "default": False},
    {"name": "scratch_dir", "type": "path", "when": {"scratch": True}},
    {"name": "seed", "type": "constant", "default": 42},
    {"name": "account", "type": "text", "required": True},
]


def test_definitions_are_checked_all_at_once():
    with pytest.raises(QuestionsError) as raised:
        check_questions(
            [
                {"name": "1bad"},
                {"name": "x", "type": "colour"},
                {"name": "y", "type": "choice"},
                {"name": "z", "type": "integer", "default": "ten"},
                {"name": "w", "when": {"later": 1}},
                {"name": "v", "pattern": "("},
            ]
        )
    text = str(raised.value)
    for fragment in [
        "identifier",
        "type must be one of",
        "choices must be",
        "default must be a whole number",
        "not an earlier question",
        "not a regular expression",
    ]:
        assert fragment in text


@pytest.mark.parametrize(
    "question, message",
    [
        ({"name": "x", "pattern": 5}, "pattern must be text"),
        ({"name": "x", "type": "integer", "min": 10, "max": 1}, r"min \(10\) is more than max \(1\)"),
        ({"name": "x", "type": "float", "min": 0.5, "max": 0.25}, r"min \(0.5\) is more than max \(0.25\)"),
        ({"name": "x", "type": "choice", "choices": ["a", {"a": 1}, [1]]}, "choice {'a': 1} is not text, a number"),
        ({"name": "x", "type": "choice", "choices": ["a", None]}, "choice None is not text"),
        ({"name": "x", "type": "multi_choice", "choices": ["a", "b", "a"]}, "choice 'a' cannot be told from an"),
        ({"name": "x", "type": "choice", "choices": [1, True]}, "choice True cannot be told"),  # 1 == True
        ({"name": "x", "type": "choice", "choices": [1, 1.0]}, "choice 1.0 cannot be told"),
        ({"name": "x", "type": "choice", "choices": [1, "1"]}, "choice '1' cannot be told"),  # a form sends "1"
        ({"name": "x", "message": ["a list"]}, "message must be text"),
        ({"name": "x", "help": {"a": 1}}, "help must be text"),
        ({"name": "x", "required": "yes"}, "required must be true or false"),
    ],
)
def test_a_definition_no_answer_could_satisfy_or_no_schema_could_say_is_refused(question, message):
    with pytest.raises(QuestionsError, match=message):
        check_questions([question])


@pytest.mark.parametrize("condition", [[True, {"a": 1}], [], {"a": 1}, None])
def test_a_condition_names_plain_values(condition):
    with pytest.raises(QuestionsError, match="when must give 'y' a value"):
        check_questions([{"name": "y", "type": "boolean"}, {"name": "z", "when": {"y": condition}}])


def test_rows_stored_before_the_upload_rules_are_read_as_before():
    """``strict=False`` (reading a stored application) keeps what was accepted before the upload-only rules."""
    stored = [
        {"name": "x", "type": "choice", "choices": ["a", "a"], "required": "no"},
        {"name": "y", "when": {"x": None}, "pattern": 5},
    ]
    assert check_questions(stored, strict=False) == stored
    with pytest.raises(QuestionsError):
        check_questions(stored)
    with pytest.raises(QuestionsError, match="type must be one of"):
        check_questions([{"name": "z", "type": "colour"}], strict=False)


def test_defaults_fill_in_and_conditions_decide_what_is_asked():
    completed, errors = complete_answers(QUESTIONS, {"account": "physics"})
    assert errors == {}
    assert completed["nodes"] == 1 and completed["seed"] == 42
    assert "scratch_dir" not in completed
    _, errors = complete_answers(QUESTIONS, {"account": "physics", "scratch": True})
    assert errors == {"scratch_dir": ["is required"]}


@pytest.mark.parametrize(
    "answers, field, message",
    [
        ({"nodes": "2"}, "nodes", "whole number"),
        ({"nodes": 0}, "nodes", "at least 1"),
        ({"nodes": True}, "nodes", "whole number"),
        ({"ratio": 2}, "ratio", "at most 1.0"),
        ({"partition": "gpu"}, "partition", "one of debug, compute"),
        ({"job_name": "Bad Name"}, "job_name", "must match"),
        ({"fields": ["p", "x"]}, "fields", "list of p, v"),
        ({"scratch": "yes"}, "scratch", "true or false"),
        ({"seed": 7}, "seed", "constant"),
        ({}, "account", "required"),
    ],
)
def test_each_bad_answer_gets_its_own_message(answers, field, message):
    _, errors = complete_answers(QUESTIONS, {"account": "a", **answers} if field != "account" else answers)
    assert field in errors and message in errors[field][0]


def test_the_json_schema_agrees_with_the_server_checks():
    schema = json_schema(QUESTIONS, title="demo")
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    good = {"account": "a", "nodes": 4, "scratch": True, "scratch_dir": "/scratch"}
    assert not list(validator.iter_errors(good))
    assert complete_answers(QUESTIONS, good)[1] == {}
    for bad in ({"account": "a", "nodes": 9}, {"nodes": 1}, {"account": "a", "scratch": True}):
        assert list(validator.iter_errors(bad)), bad
        assert complete_answers(QUESTIONS, bad)[1], bad
    assert schema["x-jobbergate-order"][0] == "partition"
