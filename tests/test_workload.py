"""Workload files: every malformed entry is named with its problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from django_pareto.verify.workload import WorkloadError, load_workload

GOOD = """
[workload]
name = "shop"
seed = 3

[params.title]
from = "testapp.Book.title"

[params.n]
range = [1, 5]

[[requests]]
name = "book"
weight = 3
path = "/books/titled/{title}/"

[[requests]]
name = "create"
method = "post"
path = "/books/new/"
login = "alice"
data = { title = "t{n}" }
expect = [201]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "workload.toml"
    path.write_text(text)
    return path


def test_a_good_file(tmp_path: Path) -> None:
    workload = load_workload(write(tmp_path, GOOD))
    assert (workload.name, workload.seed) == ("shop", 3)
    book, create = workload.requests
    assert (book.name, book.weight, book.method, book.placeholders) == ("book", 3, "GET", {"title"})
    assert (create.method, create.placeholders, create.expect) == ("POST", {"n"}, (201,))
    assert create.accepts(201) and not create.accepts(200)
    assert book.accepts(302) and not book.accepts(404)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[requests]\npath = 1", "workload.toml: not valid TOML: .*line 1"),
        ("", "workload.toml: requests: at least one"),
        ("colour = 1\n[[requests]]\npath='/'", "top level: unknown key\\(s\\) colour"),
        (
            "[[requests]]\nname='x'\npath='nope'",
            r"requests\[1\] \(x\): path must be a string starting with '/'",
        ),
        (
            "[[requests]]\npath='/'\n[[requests]]\nname='c'\npath='/{slugg}/'",
            r"requests\[2\] \(c\): unknown parameter \{slugg\} in path \(params: none defined\)",
        ),
        ("[[requests]]\npath='/'\nweight=0", r"requests\[1\]: weight must be a number > 0, got 0"),
        ("[[requests]]\npath='/'\nweight='heavy'", "weight must be a number > 0"),
        ("[[requests]]\npath='/'\nmethod='FETCH'", "method must be one of GET"),
        ("[[requests]]\npath='/'\nexpect=[200, 9000]", "expect must be a list of HTTP statuses"),
        ("[[requests]]\npath='/'\ndata={a='x'}\njson={b=1}", "give either data or json"),
        ("[[requests]]\npath='/'\nurl='/x'", r"requests\[1\]: unknown key\(s\) url"),
        ("[[requests]]\npath='/{'", r"requests\[1\]: path: bad placeholder syntax"),
        ("[[requests]]\npath='/'\nlogin='{who}'", r"unknown parameter \{who\} in login"),
        ("[[requests]]\npath='/'\ndata={t='{x}'}", r"unknown parameter \{x\} in data"),
        (
            "[params.s]\nfrom='Book.title'\n[[requests]]\npath='/'",
            r"params.s: from must look like \"app_label.Model.field\"",
        ),
        (
            "[params.s]\nrange=[5, 1]\n[[requests]]\npath='/'",
            r"params.s: range must be \[low, high\]",
        ),
        (
            "[params.s]\nchoice=[]\n[[requests]]\npath='/'",
            "params.s: choice must be a non-empty list",
        ),
        (
            "[params.s]\nchoice=[1]\nrange=[1,2]\n[[requests]]\npath='/'",
            "params.s: needs exactly one of",
        ),
        (
            "[params.s]\nfrom='a.B.c'\nfilterr={}\n[[requests]]\npath='/'",
            r"params.s: unknown key\(s\) filterr",
        ),
        ("[workload]\nseed='x'\n[[requests]]\npath='/'", r"\[workload\]: seed must be an integer"),
    ],
)
def test_malformed_files_name_the_entry_and_the_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(WorkloadError, match=message):
        load_workload(write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WorkloadError, match="workload file not found"):
        load_workload(tmp_path / "nope.toml")
