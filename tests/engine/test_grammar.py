"""Condition grammar: accepted and rejected inputs, canonical trees, positions (spec §1.1, §1.2, §1.11).

Vectors follow libsinsp's parser tests; like them, every accepted string is
re-tested with leading/trailing blanks and with its blanks turned into
newlines and into tabs.
"""

from __future__ import annotations

import pytest

from pdigpy.engine.ast import And, Check, FieldRef, FieldValue, ListValue, MacroRef, Not, Or, Transformer, Value
from pdigpy.engine.astfmt import ast_to_str, escape_value
from pdigpy.engine.grammar import ParseError, line_col, parse_condition, unescape_quoted

# (condition, canonical printed form)
ACCEPTED = [
    ("a", "a"),
    ("a.b exists", "a.b exists"),
    ("a.b exists and c", "(a.b exists and c)"),
    ("test.op existsand macro", "(test.op exists and macro)"),
    ("a.b = c", "a.b = c"),
    ("a.b == c", "a.b == c"),
    ("a.b != c", "a.b != c"),
    ("a.b=c", "a.b = c"),
    ("a.b !=c", "a.b != c"),
    ("a.b < 1", "a.b < 1"),
    ("a.b <= 1", "a.b <= 1"),
    ("a.b > 1", "a.b > 1"),
    ("a.b >=1", "a.b >= 1"),
    ("a.b > -1", "a.b > -1"),
    ("a.b > +1.5e+10", "a.b > +1.5e+10"),
    ("a.b < 0x1F", "a.b < 0x1F"),
    ("a.b < 1.2", "a.b < 1.2"),
    ("a.b contains c", "a.b contains c"),
    ("a.b icontains c", "a.b icontains c"),
    ("a.b bcontains 0a0b", "a.b bcontains 0a0b"),
    ("a.b startswith /usr", "a.b startswith /usr"),
    ("a.b bstartswith 7f45", "a.b bstartswith 7f45"),
    ("a.b endswith .log", "a.b endswith .log"),
    ("a.b glob *.log", "a.b glob *.log"),
    ("a.b iglob '*.LOG'", "a.b iglob *.LOG"),
    ("a.b regex '^a+$'", "a.b regex ^a+$"),
    ("a.b in (a, b)", "a.b in (a, b)"),
    ("a.b in(a,b)", "a.b in (a, b)"),
    ("a.b in ()", "a.b in ()"),
    ("test.op in()", "test.op in ()"),
    ("a.b intersects (a, 'b c')", 'a.b intersects (a, "b c")'),
    ("a.b pmatch (/tmp, /var/*)", "a.b pmatch (/tmp, /var/*)"),
    ("a.g in (1, 'a', b.c)", "a.g in (1, a, b.c)"),
    ("a.b in some_list_name", "a.b in some_list_name"),
    ("a.b in bash", "a.b in bash"),
    ("a.b = not", "a.b = not"),
    ("a.b = and", "a.b = and"),
    ("a.b = or", "a.b = or"),
    ("a.b = /usr/bin", "a.b = /usr/bin"),
    ("a.b = runc:[0:PARENT]", "a.b = runc:[0:PARENT]"),
    ("a.b = 0a!@#456:/\\.;!$%^&*[]{}|", 'a.b = "0a!@#456:/\\\\.;!$%^&*[]{}|"'),
    ("a.b = proc.pname", "a.b = proc.pname"),
    ("a.b = 'hello world'", 'a.b = "hello world"'),
    ('a.b = "say \\"hi\\""', 'a.b = "say \\"hi\\""'),
    ("a.b = 'it\\'s'", 'a.b = "it\'s"'),
    ("a.b = 'a=b'", 'a.b = "a=b"'),
    ("a.b = 'tab\\there'", 'a.b = "tab\\there"'),
    ("a.b = ''", "a.b = "),
    ("a.b[1] = x", "a.b[1] = x"),
    ("a.b[arg] exists", "a.b[arg] exists"),
    ("a.b['a b'] = 1", "a.b[a b] = 1"),
    ('a.b["x"] = 1', "a.b[x] = 1"),
    ("proc.aname[2] = bash", "proc.aname[2] = bash"),
    ("evt.arg.flags contains O_CREAT", "evt.arg.flags contains O_CREAT"),
    ("a.b.c.d = 1", "a.b.c.d = 1"),
    ("not a", "not a"),
    ("not not a", "a"),
    ("not not not a", "not a"),
    ("not(a)", "not a"),
    ("not (a)", "not a"),
    ("not(a)and(not(b))", "(not a and not b)"),
    ("not (a and b)", "not (a and b)"),
    ("not not (a or b)", "(a or b)"),
    ("not_macro", "not_macro"),
    ("notb", "notb"),
    ("and_macro and or_macro", "(and_macro and or_macro)"),
    ("a and b", "(a and b)"),
    ("a and b and c", "(a and b and c)"),
    ("a or b or c", "(a or b or c)"),
    ("a or b and c", "(a or (b and c))"),
    ("a and b or c", "((a and b) or c)"),
    ("a and (b or c)", "(a and (b or c))"),
    ("(a and b) and c", "((a and b) and c)"),
    ("((a))", "a"),
    ("(((a.b = 1)))", "a.b = 1"),
    ("a and(b)", "(a and b)"),
    ("a or(b)", "(a or b)"),
    ("a and(b) or c", "((a and b) or c)"),
    ("a and not b", "(a and not b)"),
    ("not a and b", "(not a and b)"),
    ("tolower(a.b) = x", "tolower(a.b) = x"),
    ("toupper(a.b) = X", "toupper(a.b) = X"),
    ("b64(a.b) = x", "b64(a.b) = x"),
    ("basename(a.b) = x", "basename(a.b) = x"),
    ("len(a.b) > 3", "len(a.b) > 3"),
    ("toupper(b64(a.b)) = X", "toupper(b64(a.b)) = X"),
    ("tolower( a.b ) = x", "tolower(a.b) = x"),
    ("a.b = val(c.d)", "a.b = val(c.d)"),
    ("a.b = val( c.d )", "a.b = val(c.d)"),
    ("a.b = val(c.d[1])", "a.b = val(c.d[1])"),
    ("tolower(a.b) = tolower(c.d)", "tolower(a.b) = tolower(c.d)"),
    ("a.b > len(c.d)", "a.b > len(c.d)"),
    ("a.b in val(c.d)", "a.b in val(c.d)"),
    ("a.b in tolower(c.d)", "a.b in tolower(c.d)"),
    ("join(',', fd.types) = x", "join(,,fd.types) = x"),  # Falco does not quote commas
    ("concat(a.b, 'x', c.d) = y", "concat(a.b,x,c.d) = y"),
    ('getopt(("-n","x"),"n:")[n] = x', "getopt((-n, x),n:)[n] = x"),
    ("getopt(proc.args, 'n:') exists", "getopt(proc.args,n:) exists"),
    ("len(fd.types) > 1", "len(fd.types) > 1"),
    ("a.b = oneof (x, y)", "a.b = oneof (x, y)"),
    ("a.b != allof (x, y)", "a.b != allof (x, y)"),
    ("a.b contains anyof (x, y)", "a.b contains anyof (x, y)"),
    ("a.b glob oneof ('*.a', '*.b')", "a.b glob oneof (*.a, *.b)"),
    ("a.b = anyof my_list", "a.b = anyof my_list"),
    ("and", "and"),  # a lone keyword is an identifier (a macro name)
    ("a.b = oneof", "a.b = oneof"),
    ("a.b = oneof and c", "(a.b = oneof and c)"),
    ("a.b = anyof or c", "(a.b = anyof or c)"),
    ("a.b startswith anyof ('/a','/b')", "a.b startswith anyof (/a, /b)"),
    ("evt.type=open and proc.name in (ash, bash, pwsh)", "(evt.type = open and proc.name in (ash, bash, pwsh))"),
    ("evt.type = close", "evt.type = close"),
    (
        "(proc.cmdline contains curl or proc.cmdline contains wget) and not proc.cmdline contains 'curl 127.0.0.1'",
        '((proc.cmdline contains curl or proc.cmdline contains wget) and not proc.cmdline contains "curl 127.0.0.1")',
    ),
    ("a.b contains\nfoo", "a.b contains foo"),
    ("a.b contains\tfoo", "a.b contains foo"),
    ("a.b = 'x\\x41'", "a.b = xA"),
    ("a.b = 'a\\ b'", 'a.b = "a\\\\b"'),
    ("a.b = 'a\\/b'", "a.b = a/b"),
    ("a.b = 'a\\\\b'", 'a.b = "a\\\\b"'),
    ("a.b = \"a'b\"", 'a.b = "a\'b"'),
    ("a.b = 'a\"b'", 'a.b = "a\\"b"'),
    ("a.b = ''", "a.b = "),
    ("a.b inx", "a.b in x"),
    ('a.b intersects ("\\"")', 'a.b intersects ("\\"")'),  # found by fuzzing: not "in" + "tersects"
    ("a.b intersects ('\\t', x)", 'a.b intersects ("\\t", x)'),
    ("ExIsTs", "ExIsTs"),
    ("a.b = x and c.d = y or not e.f exists", "((a.b = x and c.d = y) or not e.f exists)"),
]


def _variants(text: str) -> list[str]:
    return [text, f"  {text}  ", f"\n{text}\n", text.replace(" ", "\n"), text.replace(" ", "\t")]


@pytest.mark.parametrize("text,canonical", ACCEPTED)
def test_accepted_prints_canonically(text, canonical):
    assert ast_to_str(parse_condition(text)) == canonical


# Blank variants are only equivalent when no blank sits inside a quoted value.
@pytest.mark.parametrize(
    "text", [t for t, _ in ACCEPTED if "'" not in t and '"' not in t and "\n" not in t and "\t" not in t]
)
def test_accepted_with_blank_variants(text):
    tree = parse_condition(text)
    for variant in _variants(text):
        assert parse_condition(variant) == tree, repr(variant)


# (condition, message substring, 0-based position)
REJECTED = [
    ("", "filter input string is empty", 0),
    ("   ", "expected a '(' token, a field check, or an identifier", 3),
    ("a andb", "expected blank or '(' after 'and'", 5),
    ("a orb", "expected blank or '(' after 'or'", 4),
    ("a.b = 1 and", "expected blank or '(' after 'and'", 11),
    ("a.b = 1 or", "expected blank or '(' after 'or'", 10),
    ("a.b = b = 1", "unexpected token after 'b', expecting 'or', 'and'", 8),
    ("a.b = c d", "unexpected token after 'c', expecting 'or', 'and'", 8),
    ("a b", "unexpected token after 'a', expecting 'or', 'and'", 2),
    ("a.b exists c", "unexpected token after 'exists', expecting 'or', 'and'", 11),
    ("a.b in (x) y", "unexpected token after ')', expecting 'or', 'and'", 11),
    ("(a) b", "unexpected token after ')', expecting 'or', 'and'", 4),
    ("a.b = 'q' x", "unexpected token after 'q', expecting 'or', 'and'", 10),
    ("a or(b) and c", "unexpected token after ')', expecting 'or', 'and'", 8),
    ("test.list = (value)", "expected a string value or a field with a valid transformer", 12),
    ("b64 (test.field) exists", "unexpected token after 'b64', expecting 'or', 'and'", 4),
    ("test.str[ test ] = x", "expected a valid field argument: a quoted string or a bare string", 9),
    ("a.b[] = 1", "expected a valid field argument", 4),
    ("a.b[x = 1", "expected a ']' token", 5),
    ("a.b", "expected a valid check operator: one of 'exists'", 3),
    ("a.b containsvalue", "expected a valid check operator", 4),
    ("a.b ExIsTs", "expected a valid check operator", 4),
    ("a.b EXISTS", "expected a valid check operator", 4),
    ("a.b == ", "expected a string value or a field with a valid transformer", 7),
    ("a.b > abc", "expected a number value or a field with a valid transformer", 6),
    ("a.b > 'x'", "expected a number value", 6),
    ("a.b in", "expected a list, an identifier, or a field with a valid transformer", 6),
    ("a.b in 'x'", "expected a list, an identifier", 7),
    ("a.b in (a,)", "expected a string value", 10),
    ("a.b in (,a)", "expected a ')' token", 8),
    ("a.b in (a b)", "expected a ')' token", 10),
    ("a.b in (a, b64(y))", "expected a ')' token", 14),
    ("a.b = (y.z)", "expected a string value or a field with a valid transformer", 6),
    ("(a.b = 1", "expected a ')' token", 8),
    ("(a", "expected a ')' token", 2),
    ("not(a", "expected a ')' token", 5),
    ("a)", "unexpected token after 'a', expecting 'or', 'and'", 1),
    ("#a and b; a and b", "expected a '(' token, a field check, or an identifier", 0),
    ("1 = 1", "expected a '(' token, a field check, or an identifier", 0),
    ("a and", "expected blank or '(' after 'and'", 5),
    ("a and ", "expected a '(' token, a field check, or an identifier", 6),
    ("tolower(a.b = 1", "expected a ')' token closing the transformer", 12),
    ("tolower(x) = 1", "expected a field or a nested valid transformer", 8),
    ("tolower() = 1", "expected a field or a nested valid transformer", 8),
    ("a.b = tolower(val(c.d))", "expected a field or a nested valid transformer", 14),
    ("val(a.b) = 1", "unexpected token after 'val', expecting 'or', 'and'", 3),
    ("a.b = val(c)", "expected a field within 'val' transformer", 10),
    ("a.b = val(c.d", "expected a ')' token closing the transformer", 13),
    ("a.b = val(tolower(c.d))", "expected a field within 'val' transformer", 10),
    ("a.b = val(c.d, e.f)", "expected a ')' token closing the transformer", 13),
    ("a.b = 'unterminated", "expected a string value", 6),
    ('a.b = "a\\\\" or x', "expected a string value", 6),
    ("a.b = 'a\\qb'", "unsupported string escape sequence: \\q", 6),
    ("a.b = 'a\\\"b'", "invalid \\\" escape in '-quoted string", 6),
    ('a.b = "a\\\'b"', "invalid \\' escape in \"-quoted string", 6),
    ("a.b = 'x\\xzz'", "escape", 6),
    ("a.b = 'x\\x4'", "escape", 6),
    ("a.b = oneof (x,)", "expected a string value", 15),
    ("a.b = anyof 'x'", "unexpected token after 'anyof'", 12),
    ("a.b[x]y = 1", "expected a valid check operator", 6),
]


@pytest.mark.parametrize("text,message,pos", REJECTED)
def test_rejected(text, message, pos):
    with pytest.raises(ParseError) as info:
        parse_condition(text)
    assert message in info.value.message
    assert info.value.pos == pos
    assert (info.value.line, info.value.col) == line_col(text, pos)


@pytest.mark.parametrize(
    "text,line,col",
    [
        ("a.b = 1 and\n  c.d ~ 2", 2, 7),
        ("a.b = 1 and\r\n  c.d ~ 2", 3, 7),  # libsinsp counts CR and LF each as a line break
        ("\n\n  )", 3, 3),
        ("a.b\n=", 2, 2),
    ],
)
def test_error_line_and_column_are_one_based(text, line, col):
    with pytest.raises(ParseError) as info:
        parse_condition(text)
    assert (info.value.line, info.value.col) == (line, col)


def test_operator_message_lists_every_operator():
    with pytest.raises(ParseError) as info:
        parse_condition("a.b ~ 1")
    assert info.value.message == (
        "expected a valid check operator: one of 'exists', '<=', '<', '>=', '>', '==', '=', '!=', "
        "'glob', 'iglob', 'contains', 'icontains', 'bcontains', 'startswith', 'bstartswith', "
        "'endswith', 'regex', 'intersects', 'in', 'pmatch'"
    )


def test_tree_shapes_and_positions():
    tree = parse_condition("not a.b = 'x y' and m or c.d in (1, \"2\")")
    assert tree == Or(
        (
            And((Not(Check(FieldRef("a.b"), "=", Value("x y", True))), MacroRef("m"))),
            Check(FieldRef("c.d"), "in", ListValue((Value("1"), Value("2", True)))),
        )
    )
    not_node = tree.children[0].children[0]
    assert not_node.pos == 0
    assert not_node.child.pos == 4 and not_node.child.rhs.pos == 10
    assert tree.children[0].children[1].pos == 20
    rhs = tree.children[1].rhs
    assert [v.pos for v in rhs.items] == [33, 36]


def test_field_to_field_and_transformer_nodes():
    tree = parse_condition("tolower(a.b[1]) = val(c.d)")
    assert tree == Check(
        Transformer("tolower", (FieldRef("a.b", "1"),)), "=", FieldValue(FieldRef("c.d"))
    )
    tree = parse_condition("getopt(proc.args, 'n:')[n] = x")
    assert tree.lhs == Transformer("getopt", (FieldRef("proc.args"), Value("n:", True)), "n")


def test_modifier_tree():
    assert parse_condition("a.b = oneof (x, x)") == Check(
        FieldRef("a.b"), "=", ListValue((Value("x"), Value("x"))), "oneof"
    )
    # not a modifier: a plain value
    assert parse_condition("a.b = oneof") == Check(FieldRef("a.b"), "=", Value("oneof"))


def test_identifier_rhs_of_list_operator_is_a_single_value():
    assert parse_condition("proc.name in bash") == Check(FieldRef("proc.name"), "in", Value("bash"))


def test_depth_limit():
    ok = "(" * 150 + "a.b = 1" + ")" * 150
    assert parse_condition(ok) == Check(FieldRef("a.b"), "=", Value("1"))
    deep = "(" * 300 + "a.b = 1" + ")" * 300
    with pytest.raises(ParseError, match="exceeded max depth limit of 1000"):
        parse_condition(deep)
    with pytest.raises(ParseError, match="exceeded max depth limit of 100$"):
        parse_condition("(" * 30 + "a" + ")" * 30, max_depth=100)
    # parentheses inside quoted strings do not count
    quoted = "a.b in (" + ", ".join(["'((((('"] * 400) + ")"
    assert isinstance(parse_condition(quoted), Check)


def test_long_chains_do_not_recurse():
    text = " and ".join(f"a.b = {i}" for i in range(3000))
    tree = parse_condition(text)
    assert isinstance(tree, And) and len(tree.children) == 3000
    tree = parse_condition("not " * 5001 + "a")
    assert tree == Not(MacroRef("a"))


def test_parse_is_cached_and_trees_are_equal():
    text = "a.b = 1 and c"
    assert parse_condition(text) is parse_condition(text)


@pytest.mark.parametrize(
    "body,quote,expected",
    [
        ("plain", "'", "plain"),
        ("a\\nb", "'", "a\nb"),
        ("a\\tb\\rc\\bd\\fe", '"', "a\tb\rc\bd\fe"),
        ("\\\\", "'", "\\"),
        ("\\/", "'", "/"),
        ("\\'", "'", "'"),
        ('\\"', '"', '"'),
        ("\\ ", "'", "\\"),
        ("\\x41\\x7e", "'", "A~"),
        ("\\x00", "'", "\0"),
        ("\\xff", "'", "\udcff"),
    ],
)
def test_unescape(body, quote, expected):
    assert unescape_quoted(body, quote) == expected


@pytest.mark.parametrize(
    "text,printed",
    [
        ("plain", "plain"),
        ("has space", '"has space"'),
        ("a=b", '"a=b"'),
        ("it's", '"it\'s"'),
        ('say "x"', '"say \\"x\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("tab\t", '"tab\\t"'),
        ("nl\n", '"nl\\n"'),
        ("", ""),
        ("/usr/bin/*", "/usr/bin/*"),
    ],
)
def test_escape_value(text, printed):
    assert escape_value(text) == printed
