"""Field transformers (spec §1.6), applied to extracted values."""

from __future__ import annotations

import pytest

from pdigpy.engine.transformers import TRANSFORMERS, TransformerError, apply, getopt_parse

CASES = [
    ("tolower", ("AbC/DEF",), "abc/def"),
    ("tolower", ("ÀB",), "Àb"),  # per byte, ASCII only
    ("toupper", ("abc",), "ABC"),
    ("b64", ("aGVsbG8=",), "hello"),
    ("b64", ("aGVsbG8",), "hello"),  # padding optional
    ("b64", ("not base64!",), None),  # decode failure: missing value
    ("b64", (b"aGk=",), b"hi"),
    ("b64", ("/w==",), "\udcff"),  # raw byte survives as a surrogate escape
    ("basename", ("/usr/bin/ls",), "ls"),
    ("basename", ("/usr/bin/",), ""),
    ("basename", ("ls",), "ls"),
    ("basename", ("",), ""),
    ("len", ("abc",), 3),
    ("len", ("",), 0),
    ("len", ("ab\0cd",), 2),  # up to the first NUL
    ("len", ("é",), 2),  # bytes, not characters
    ("len", (b"a\0b",), 3),
    ("len", (["a", "b", "c"],), 3),
    ("join", (",", ["a", "b"]), "a,b"),
    ("join", ("", []), ""),
    ("concat", ("a", "b", "c"), "abc"),
    ("concat", ("a", None), None),
    ("tolower", (None,), None),
]


@pytest.mark.parametrize("name,values,expected", CASES)
def test_apply(name, values, expected):
    assert apply(name, *values) == expected


@pytest.mark.parametrize(
    "args,optstring,which,expected",
    [
        (["-n", "x", "file"], "n:", "n", "x"),
        (["-nx"], "n:", "n", "x"),
        (["-v", "-n", "1", "-n", "2"], "vn:", "n", "2"),  # last occurrence wins
        (["-v"], "v", "v", "v"),  # no value: the option itself
        (["--long", "-v"], "v", "v", "v"),  # long options skipped
        (["file", "-v"], "v", "v", None),  # stops at the first non-option
        (["-", "-v"], "v", "v", None),  # a lone '-' is a non-option
        (["--", "-v"], "v", "v", None),  # stops at --
        (["-q"], "v", "v", None),  # absent: missing value
        (["-n"], "n:", "n", ""),  # value missing: empty string
        (["-vq"], "v", None, ["v", "?"]),  # unknown option: '?'
        (["-n", "x", "-v"], "n:v", None, ["n", "x", "v"]),  # option, then its value
        (["-vnx", "-q"], "vn:", None, ["v", "n", "x", "?"]),  # clusters expand
        (["-n"], ":n:", None, [""]),
        (["-:"], "a:", None, ["?"]),  # ':' is never an option
    ],
)
def test_getopt(args, optstring, which, expected):
    assert apply("getopt", args, optstring, arg=which) == expected


def test_getopt_pairs():
    assert getopt_parse(["-ab", "-c", "v", "rest"], "abc:") == [("a", None), ("b", None), ("c", "v")]


@pytest.mark.parametrize(
    "name,types,lists,arg,out",
    [
        ("tolower", ["string"], [False], None, ("string", False)),
        ("b64", ["bytebuf"], [False], None, ("bytebuf", False)),
        ("len", ["string"], [False], None, ("uint", False)),
        ("len", ["string"], [True], None, ("uint", False)),
        ("join", ["string", "string"], [False, True], None, ("string", False)),
        ("concat", ["string", "string"], [False, False], None, ("string", False)),
        ("getopt", ["string", "string"], [True, False], None, ("string", True)),
        ("getopt", ["string", "string"], [True, False], "n", ("string", False)),
    ],
)
def test_output_types(name, types, lists, arg, out):
    assert TRANSFORMERS[name].out_type(types, lists, arg) == out


@pytest.mark.parametrize(
    "name,types,lists,arg",
    [
        ("tolower", ["int"], [False], None),
        ("toupper", ["string"], [True], None),
        ("basename", ["bytebuf"], [False], None),
        ("len", ["int"], [False], None),
        ("tolower", ["string"], [False], "1"),  # no [arg] after a single-value transformer
        ("join", ["string", "string"], [False, False], None),
        ("concat", ["string", "int"], [False, False], None),
        ("getopt", ["string", "string"], [False, False], None),
        ("getopt", ["string", "string"], [True, False], "nn"),
    ],
)
def test_type_errors(name, types, lists, arg):
    with pytest.raises(TransformerError):
        TRANSFORMERS[name].out_type(types, lists, arg)
