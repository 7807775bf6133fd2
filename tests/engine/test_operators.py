"""glob/iglob (fnmatch(3), flags 0), pmatch (path components), regex (full match) and helpers."""

from __future__ import annotations

import ctypes
import ctypes.util

import pytest

from pdigpy.engine.operators import (
    OperatorError,
    ascii_lower,
    ascii_upper,
    make_glob,
    make_pmatch,
    make_regex,
    regex_could_be_simpler,
)

GLOB_CASES = [
    # pattern, value, expected
    ("*", "", True),
    ("*", "/any/path", True),
    ("*.log", "a.log", True),
    ("*.log", "/var/log/a.log", True),  # '*' crosses '/'
    ("*.log", "a.log.1", False),
    ("/usr/*", "/usr/bin/ls", True),
    ("/usr/*/ls", "/usr/local/bin/ls", True),
    ("?", "a", True),
    ("?", "", False),
    ("?", "/", True),
    ("a?c", "abc", True),
    ("a?c", "ac", False),
    ("*bin*", "/usr/bin/ls", True),
    ("*bin*", "/usr/sbn/ls", False),
    ("abc", "abc", True),
    ("abc", "abcd", False),
    ("abc*", "abcd", True),
    ("abc*", "xabcd", False),
    ("*abc", "xabc", True),
    ("*.*", "noext", False),
    ("[abc]x", "bx", True),
    ("[abc]x", "dx", False),
    ("[a-c]x", "cx", True),
    ("[!a-c]x", "dx", True),
    ("[!a-c]x", "ax", False),
    ("[^a-c]x", "dx", True),
    ("[]]", "]", True),
    ("[!]]", "a", True),
    ("[[:digit:]]*", "7up", True),
    ("[[:digit:]]*", "up", False),
    ("[[:alpha:][:digit:]]", "z", True),
    ("[[:upper:]]", "a", False),
    ("[/]", "/", True),
    ("\\*", "*", True),
    ("\\*", "a", False),
    ("a\\?", "a?", True),
    ("a\\?", "ab", False),
    ("\\[x]", "[x]", True),
    ("[", "[", True),  # unterminated bracket: literal
    ("a[", "a[", True),
    (".bashrc", ".bashrc", True),
    ("*bashrc", ".bashrc", True),  # no special leading dot
    ("/etc/*", "/etc/.hidden", True),
    ("*.LOG", "a.log", False),
    ("a*b*c", "aXXbYYc", True),
    ("a*b*c", "aXXbYY", False),
    ("**", "x", True),
    ("x.y", "xzy", False),  # '.' is literal
    ("(a|b)", "a", False),  # no regex syntax
    ("(a|b)", "(a|b)", True),
    ("+", "+", True),
]


@pytest.mark.parametrize("pattern,value,expected", GLOB_CASES)
def test_glob(pattern, value, expected):
    assert make_glob(pattern)(value) is expected


def _libc_fnmatch():
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    fn = libc.fnmatch
    fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
    return fn


@pytest.mark.parametrize("pattern,value,expected", GLOB_CASES)
def test_glob_agrees_with_libc_fnmatch(pattern, value, expected):
    """The table itself is checked against glibc's fnmatch(3) with flags 0."""
    assert (_libc_fnmatch()(pattern.encode(), value.encode(), 0) == 0) is expected


@pytest.mark.parametrize(
    "pattern,value,expected",
    [
        ("*.LOG", "a.log", True),
        ("*.log", "A.LOG", True),
        ("[A-C]x", "bX", True),
        ("ABC", "abc", True),
        ("ABC", "abd", False),
        ("é*", "É", False),  # ASCII folding only
    ],
)
def test_iglob(pattern, value, expected):
    assert make_glob(pattern, icase=True)(value) is expected


PMATCH_CASES = [
    (["/tmp/hello"], "/tmp/hello", True),
    (["/tmp/hello"], "/tmp/hello/x", True),
    (["/tmp/hello"], "/tmp/hello_world", False),
    (["/tmp/hello"], "/tmp", False),
    (["/etc/"], "/etc", True),
    (["/etc"], "/etc/passwd", True),
    (["/etc"], "/etcetera", False),
    (["//etc//"], "/etc/x", True),  # empty components ignored
    (["/etc"], "//etc///shadow", True),
    (["/var/*"], "/var", False),  # needs one component below /var
    (["/var/*"], "/var/log", True),
    (["/var/*"], "/var/log/x", True),
    (["/var/*/x"], "/var/log/x", True),
    (["/var/*/x"], "/var/log/y", False),
    (["/var/l?g"], "/var/log/a", True),
    (["/var/[lm]og"], "/var/mog", True),
    (["/a", "/b/c"], "/b/c/d", True),
    (["/a", "/b/c"], "/b/d", False),
    ([], "/anything", False),
    (["/"], "/anything", True),
    (["/usr/bin"], "usr/bin/ls", True),  # components only; leading '/' not significant
    (["/usr/bin"], "/usr/bi", False),
]


@pytest.mark.parametrize("prefixes,value,expected", PMATCH_CASES)
def test_pmatch(prefixes, value, expected):
    assert make_pmatch(prefixes)(value) is expected


REGEX_CASES = [
    ("a+", "aaa", True),
    ("a+", "aab", False),  # anchored at the end
    ("a+", "baa", False),  # and at the start
    ("^a+$", "aa", True),
    (".*bin.*", "/usr/bin/ls", True),
    ("(ba|fo)o", "foo", True),
    ("[[:digit:]]+", "123", True),
    ("[[:digit:]]+", "12a", False),
    ("[^[:space:]]+", "a b", False),
    ("x{2,3}", "xxx", True),
    ("x{2,3}", "xxxx", False),
    ("a.c", "a\nc", True),
    ("", "", True),
]


@pytest.mark.parametrize("pattern,value,expected", REGEX_CASES)
def test_regex_full_match(pattern, value, expected):
    assert make_regex(pattern)(value) is expected


@pytest.mark.parametrize("pattern", ["(a)\\1", "(?=x)x", "(?!x)y", "(?<=a)b", "a(", "[z-a]", "*a"])
def test_regex_rejected(pattern):
    with pytest.raises(OperatorError, match="invalid regex"):
        make_regex(pattern)


@pytest.mark.parametrize(
    "pattern,simpler",
    [
        ("abc", True),
        ("^abc", True),
        ("abc$", True),
        ("^abc$", True),
        (".*abc", True),
        ("abc.*", True),
        (".+abc.?", True),
        ("a.c", False),
        ("a+", False),
        ("^a|b$", False),
        ("[abc]", False),
        ("a\\.b", False),
    ],
)
def test_regex_could_be_simpler(pattern, simpler):
    assert regex_could_be_simpler(pattern) is simpler


@pytest.mark.parametrize(
    "text,lower,upper",
    [("AbC", "abc", "ABC"), ("ÀB", "Àb", "ÀB"), ("x\udcffY", "x\udcffy", "X\udcffY"), ("", "", "")],
)
def test_ascii_case(text, lower, upper):
    assert ascii_lower(text) == lower
    assert ascii_upper(text) == upper


def test_regex_sees_invalid_utf8_as_replacement_characters():
    # "\udcff" is how os.fsdecode carries the raw byte 0xff
    assert make_regex("a\ufffdb")("a\udcffb") is True
    assert make_regex("a.b")("a\udcffb") is True
    assert make_regex("é+")("éé") is True


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_component = st.sampled_from(["a", "b", "etc", "ab", "a.b", "x y"])
_path = st.builds(
    lambda lead, comps, trail, dbl: ("/" if lead else "") + ("//" if dbl else "/").join(comps) + ("/" if trail else ""),
    st.booleans(), st.lists(_component, max_size=4), st.booleans(), st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_path, max_size=4), _path)
def test_pmatch_fast_path_agrees_with_the_component_definition(prefixes, value):
    def comps(p):
        return [c for c in p.split("/") if c]

    expected = any(comps(value)[: len(comps(p))] == comps(p) for p in prefixes)
    assert make_pmatch(prefixes)(value) is expected
