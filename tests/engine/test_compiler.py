"""Compiled conditions evaluated on events: every operator with present and missing values,
field-to-field checks, modifiers, lists, ancestor (any_of) and endpoint (either) fields,
compile errors with Falco's messages, and compile warnings.

Events carry their field values directly (see conftest.TableRegistry).
"""

from __future__ import annotations

import ipaddress

import pytest

from pdigpy.engine.ast import Check, FieldRef
from pdigpy.engine.compiler import CompileError, CompileWarning, compile_condition
from pdigpy.engine.grammar import parse_condition

IP = ipaddress.ip_address

BASH = {
    "evt.type": "openat",
    "evt.res": 3,
    "evt.num": 42,
    "proc.name": "bash",
    "proc.pname": "sshd",
    "proc.cmdline": "bash -c 'curl 127.0.0.1'",
    "proc.exepath": "/usr/bin/bash",
    "proc.pid": 100,
    "proc.ppid": 1,
    "proc.is_exe_upper_layer": False,
    "proc.aname": ["sshd", "systemd"],
    "proc.env": {"HOME": "/root", "PATH": "/usr/bin"},
    "user.name": "root",
    "user.uid": 0,
    "user.loginuid": -1,
    "fd.name": "/etc/shadow",
    "fd.directory": "/etc",
    "fd.types": ["file", "ipv4"],
    "fd.sip": IP("10.1.2.3"),
    "fd.cip": IP("192.168.0.5"),
    "fd.snet": IP("10.1.2.3"),
    "fd.sport": 443,
    "fd.ip": [IP("192.168.0.5"), IP("10.1.2.3")],
    "fd.net": [IP("192.168.0.5"), IP("10.1.2.3")],
    "fd.port": [51000, 443],
    "evt.buffer": b"\x7fELF\x02\x01hello",
    "evt.time": 1700000000000000000,
}

# (condition, expected on BASH, expected when the LHS field is missing)
CASES = [
    # strings
    ("proc.name = bash", True, False),
    ("proc.name == bash", True, False),
    ("proc.name = zsh", False, False),
    ("proc.name != zsh", True, False),  # missing value: != is false too
    ("proc.name != bash", False, False),
    ("proc.name contains as", True, False),
    ("proc.name contains zz", False, False),
    ("proc.name icontains AS", True, False),
    ("proc.name icontains BASH", True, False),
    ("proc.name startswith ba", True, False),
    ("proc.name startswith sh", False, False),
    ("proc.name endswith sh", True, False),
    ("proc.name endswith ba", False, False),
    ("proc.name glob 'b*'", True, False),
    ("proc.name glob 'B*'", False, False),
    ("proc.name iglob 'B*'", True, False),
    ("proc.name regex 'ba.h'", True, False),
    ("proc.name regex 'ba'", False, False),  # full match
    ("proc.name in (zsh, bash)", True, False),
    ("proc.name in (zsh, ksh)", False, False),
    ("proc.name in ()", False, False),
    ("proc.name in bash", True, False),  # identifier RHS: a single value
    ("proc.name intersects (bash)", True, False),
    ("proc.name > 1", True, False),  # lexicographic ("bash" > "1"); the grammar wants a number
    ("proc.name < 1", False, False),
    ("proc.name exists", True, False),
    ("not proc.name exists", False, True),
    ("not proc.name != zsh", False, True),
    ("fd.name pmatch (/etc)", True, False),
    ("fd.name pmatch (/etc/shadow, /tmp)", True, False),
    ("fd.name pmatch (/et)", False, False),
    ("fd.name pmatch (/e*)", True, False),
    ("proc.cmdline contains \"curl 127.0.0.1\"", True, False),
    ("proc.exepath = /usr/bin/bash", True, False),
    ("proc.env[HOME] = /root", True, False),
    ("proc.env[NOPE] exists", False, False),
    # numbers
    ("evt.res = 3", True, False),
    ("evt.res != 3", False, False),
    ("evt.res > 2", True, False),
    ("evt.res >= 3", True, False),
    ("evt.res < 3", False, False),
    ("evt.res <= 3", True, False),
    ("evt.res > -1", True, False),
    ("evt.res in (1, 2, 3)", True, False),
    ("evt.res in (1, 2)", False, False),
    ("evt.res intersects (3)", True, False),
    ("evt.num = 42", True, False),
    ("user.uid = 0", True, False),
    ("user.loginuid = -1", True, False),
    ("evt.time > 0", True, False),
    ("fd.sport = 443", True, False),
    ("fd.sport = https", True, False),  # service name
    ("fd.sport in (http, https)", True, False),
    # bool
    ("proc.is_exe_upper_layer = false", True, False),
    ("proc.is_exe_upper_layer = true", False, False),
    ("proc.is_exe_upper_layer != true", True, False),
    # ip
    ("fd.sip = 10.1.2.3", True, False),
    ("fd.sip != 10.1.2.3", False, False),
    ("fd.sip in (10.1.2.3, 1.1.1.1)", True, False),
    ("fd.cip = 10.1.2.3", False, False),
    ("fd.snet = 10.0.0.0/8", True, False),
    ("fd.snet = 192.168.0.0/16", False, False),
    ("fd.snet != 192.168.0.0/16", True, False),
    ("fd.snet in (172.16.0.0/12, 10.0.0.0/8)", True, False),
    # buffers
    ("evt.buffer contains hello", True, False),
    ("evt.buffer bcontains 68656c6c6f", True, False),
    ("evt.buffer bcontains 00", False, False),
    ("evt.buffer bstartswith 7f454c46", True, False),
    ("evt.buffer bstartswith 454c46", False, False),
    ("evt.buffer startswith '\\x7fELF'", True, False),
    ("evt.buffer endswith llo", True, False),
    ("evt.buffer = '\\x7fELF\\x02\\x01hello'", True, False),
    # list-typed field: in = subset, intersects = any
    ("fd.types in (file, ipv4, unix)", True, False),
    ("fd.types in (file)", False, False),
    ("fd.types intersects (file)", True, False),
    ("fd.types intersects (pipe)", False, False),
    ("fd.types exists", True, False),
    # ancestors without an argument: any ancestor from the parent up
    ("proc.aname = systemd", True, False),
    ("proc.aname = bash", False, False),  # never the process itself
    ("proc.aname != sshd", True, False),  # any ancestor differs
    ("proc.aname in (init, sshd)", True, False),
    ("proc.aname startswith sys", True, False),
    ("proc.aname exists", True, False),
    ("proc.aname[0] = bash", True, True),  # level 0 is the process itself (proc.name)
    ("proc.aname[1] = sshd", True, False),
    ("proc.aname[2] = systemd", True, False),
    ("proc.aname[3] exists", False, False),
    # endpoints: either matches for = / in, both differ for !=
    ("fd.ip = 10.1.2.3", True, False),
    ("fd.ip = 192.168.0.5", True, False),
    ("fd.ip = 8.8.8.8", False, False),
    ("fd.ip != 8.8.8.8", True, False),
    ("fd.ip != 10.1.2.3", False, False),  # one endpoint equals
    ("fd.ip in (8.8.8.8, 10.1.2.3)", True, False),
    ("fd.net = 10.0.0.0/8", True, False),
    ("fd.net != 10.0.0.0/8", False, False),
    ("fd.net != 172.16.0.0/12", True, False),
    ("fd.port = 443", True, False),
    ("fd.port = 51000", True, False),
    ("fd.port != 22", True, False),
    ("fd.port in (ssh, https)", True, False),
    ("fd.port exists", True, False),
    # modifiers
    ("proc.name = anyof (zsh, bash)", True, False),
    ("proc.name = allof (bash, bash)", True, False),
    ("proc.name = allof (bash, zsh)", False, False),
    ("proc.name = oneof (bash, zsh)", True, False),
    ("proc.name == oneof (bash, bash)", False, False),  # duplicates count
    ("proc.name != allof (zsh, ksh)", True, False),  # in neither
    ("proc.name != allof (zsh, bash)", False, False),
    ("proc.name != anyof (zsh, bash)", True, False),  # differs from at least one
    ("proc.cmdline contains allof (bash, curl)", True, False),
    ("proc.cmdline contains oneof (bash, curl)", False, False),
    ("proc.name startswith anyof (x, ba)", True, False),
    ("proc.name glob oneof ('b*', 'z*')", True, False),
    ("proc.name regex anyof ('b.*', 'z')", True, False),
    ("fd.name endswith anyof (shadow)", True, False),
    ("proc.name icontains allof (BA, SH)", True, False),
    ("fd.sip = anyof (1.1.1.1, 10.1.2.3)", True, False),
    ("evt.buffer bstartswith anyof (00, 7f45)", True, False),
    # transformers
    ("tolower(proc.name) = bash", True, False),
    ("toupper(proc.name) = BASH", True, False),
    ("toupper(proc.name) = bash", False, False),
    ("basename(proc.exepath) = bash", True, False),
    ("basename(fd.directory) = etc", True, False),
    ("len(proc.name) = 4", True, False),
    ("len(proc.name) > 10", False, False),
    ("len(fd.types) = 2", True, False),
    ("toupper(basename(proc.exepath)) = BASH", True, False),
    ("tolower(proc.name) in (zsh, bash)", True, False),
    ("concat(proc.name, ':', proc.pname) = 'bash:sshd'", True, False),
    ("join(',', fd.types) = 'file,ipv4'", True, False),
    ("len(proc.name) exists", True, False),
    # evt.dir is deprecated: '<' always true, '>' always false
    ("evt.dir = <", True, True),
    ("evt.dir = >", False, False),
]


def _first_field(node) -> FieldRef | None:
    if isinstance(node, FieldRef):
        return node
    for arg in getattr(node, "args", ()):
        found = _first_field(arg)
        if found is not None:
            return found
    return None


def _without_lhs(text: str) -> dict:
    """BASH without the (first) field of the condition's LHS."""
    tree = parse_condition(text)
    while not isinstance(tree, Check):
        tree = tree.child
    values = dict(BASH)
    values.pop(_first_field(tree.lhs).name, None)
    return values


@pytest.mark.parametrize("text,expected,expected_missing", CASES)
def test_evaluate(text, expected, expected_missing, compile_text, make_ev):
    predicate = compile_text(text)
    assert predicate(make_ev(BASH)) is expected
    assert predicate(make_ev(_without_lhs(text))) is expected_missing


# field-to-field: (condition, values, expected)
FIELD_TO_FIELD = [
    ("proc.name = val(proc.pname)", {"proc.name": "a", "proc.pname": "a"}, True),
    ("proc.name = val(proc.pname)", {"proc.name": "a", "proc.pname": "b"}, False),
    ("proc.name != val(proc.pname)", {"proc.name": "a", "proc.pname": "b"}, True),
    ("proc.name != val(proc.pname)", {"proc.name": "a"}, False),  # RHS missing
    ("proc.name = val(proc.pname)", {"proc.pname": "a"}, False),  # LHS missing
    ("tolower(proc.name) = tolower(proc.pname)", {"proc.name": "Ab", "proc.pname": "aB"}, True),
    ("proc.name = tolower(proc.pname)", {"proc.name": "ab", "proc.pname": "AB"}, True),
    ("proc.cmdline contains val(proc.name)", {"proc.cmdline": "run bash -c", "proc.name": "bash"}, True),
    ("proc.cmdline startswith val(proc.name)", {"proc.cmdline": "run bash", "proc.name": "bash"}, False),
    ("proc.exepath endswith val(proc.name)", {"proc.exepath": "/bin/bash", "proc.name": "bash"}, True),
    ("proc.exepath glob val(proc.name)", {"proc.exepath": "/bin/bash", "proc.name": "*bash"}, True),
    ("proc.pid > val(proc.ppid)", {"proc.pid": 10, "proc.ppid": 1}, True),
    ("proc.pid < val(proc.ppid)", {"proc.pid": 10, "proc.ppid": 1}, False),
    ("len(proc.name) = len(proc.pname)", {"proc.name": "ab", "proc.pname": "cd"}, True),
    ("proc.name in val(proc.pname)", {"proc.name": "ab", "proc.pname": "ab"}, True),
    ("proc.aname[1] = val(proc.pname)", {"proc.aname": ["sshd"], "proc.pname": "sshd"}, True),
]


@pytest.mark.parametrize("text,values,expected", FIELD_TO_FIELD)
def test_field_to_field(text, values, expected, compile_text, make_ev):
    assert compile_text(text)(make_ev(values)) is expected


BOOLEAN = [
    ("proc.name = bash and fd.name = /etc/shadow", True),
    ("proc.name = bash and fd.name = /etc/passwd", False),
    ("proc.name = zsh or fd.name = /etc/shadow", True),
    ("proc.name = zsh or fd.name = /etc/passwd", False),
    ("not proc.name = zsh", True),
    ("not (proc.name = bash and evt.res = 3)", False),
    ("proc.name = zsh or proc.name = ksh or evt.type = openat", True),
    ("evt.type = openat and evt.res > 0 and proc.name = bash and user.name = root", True),
    ("not not proc.name = bash", True),
    ("(proc.name = zsh or proc.name = bash) and not fd.name startswith /tmp", True),
    ("evt.type in (open, openat) and not user.name in (daemon, nobody)", True),
    ("evt.type = execve", False),
]


@pytest.mark.parametrize("text,expected", BOOLEAN)
def test_boolean_structure(text, expected, compile_text, make_ev):
    assert compile_text(text)(make_ev(BASH)) is expected


def test_deep_tree_uses_closures_and_still_evaluates(compile_text, make_ev):
    text = "(" * 60 + "proc.name = bash" + " and evt.res = 3)" * 60
    assert compile_text(text)(make_ev(BASH)) is True
    text = "not (" * 60 + "proc.name = bash" + ")" * 60
    assert compile_text(text)(make_ev(BASH)) is True  # an even number of nots


def test_short_circuit_skips_later_checks(registry, make_ev):
    seen = []
    original = registry.bind

    def counting_bind(name, arg=None):
        bound = original(name, arg)
        extract = bound.extract

        def traced(evt, _n=name, _x=extract):
            seen.append(_n)
            return _x(evt)

        bound.extract = traced
        return bound

    registry.bind = counting_bind
    predicate = compile_condition(parse_condition("proc.name = zsh and fd.name = x"), registry)
    assert predicate(make_ev(BASH)) is False
    assert seen == ["proc.name"]


def test_evt_type_checks_run_first(registry, make_ev):
    seen = []
    original = registry.bind

    def counting_bind(name, arg=None):
        bound = original(name, arg)
        extract = bound.extract
        bound.extract = lambda evt, _n=name, _x=extract: (seen.append(_n), _x(evt))[1]
        return bound

    registry.bind = counting_bind
    predicate = compile_condition(parse_condition("proc.name = bash and evt.type = execve"), registry)
    assert predicate(make_ev(BASH)) is False
    assert seen == ["evt.type"]


ERRORS = [
    ("proc.namex = bash", "filter_check called with nonexistent field proc.namex", 0),
    ("proc.env exists", "requires an argument", 0),
    ("proc.name[1] = x", "does not take an argument", 0),
    ("evt.res = abc", "abc is not a valid number", 10),
    ("evt.res = 0x10", "0x10 is not a valid number", 10),
    ("evt.res > 1.5", "1.5 is not a valid number", 10),
    ("evt.res in (1, x)", "x is not a valid number", 15),
    ("user.uid = 1e+5", "is not a valid number", 11),
    ("proc.is_exe_upper_layer = yes", "unrecognized boolean value yes", 26),
    ("fd.sip = 10.0.0.256", "unrecognized IPv4 address", 9),
    ("fd.snet = 10.0.0.1", "unrecognized IP network", 10),
    ("fd.sport = nosuchservicexyz", "unrecognized protocol nosuchservicexyz", 11),
    ("evt.type = nosuchevent", "unknown event type nosuchevent", 11),
    ("evt.type in (open, bogus)", "unknown event type bogus", 19),
    ("evt.res contains 1", "'contains' operator not supported for numeric filters", 0),
    ("evt.res glob 1*", "'glob' operator not supported for numeric filters", 0),
    ("evt.res pmatch (/x)", "'pmatch' operator not supported for numeric filters", 0),
    ("proc.is_exe_upper_layer > 1", "'>' operator not supported for bool filters", 0),
    ("proc.is_exe_upper_layer contains x", "not supported for bool filters", 0),
    ("proc.name bcontains 00", "'bcontains' operator not supported for string filters", 0),
    ("proc.name bstartswith 00", "'bstartswith' operator not supported for string filters", 0),
    ("evt.buffer glob x", "'glob' operator not supported for buffer filters", 0),
    ("evt.buffer icontains x", "not supported for buffer filters", 0),
    ("fd.sip contains 1", "'contains' operator not supported for ip filters", 0),
    ("fd.sip > 1", "not supported for ip filters", 0),
    ("fd.types = file", "'=' operator not supported for list filters", 0),
    ("fd.types contains f", "not supported for list filters", 0),
    ("fd.ip startswith 1", "IP filter only supports '=' and '!='", 0),
    ("evt.buffer bcontains xyz", "bcontains and bstartswith operator support hex strings only", 21),
    ("evt.buffer bstartswith 123", "hex strings only", 23),
    ("proc.name regex '(a'", "invalid regex", 16),
    ("proc.name regex '(a)\\\\1'", "back-references", 16),
    ("proc.name = val(proc.pid)", "incompatible types", 0),
    ("proc.name pmatch val(proc.pname)", "'pmatch' operator does not support a field", 0),
    ("proc.name regex val(proc.pname)", "'regex' operator does not support a field", 0),
    ("evt.res = val(evt.around)", "cannot be used in a field-to-field comparison", 10),
    ("proc.name = val(proc.aname)", "cannot be used in a field-to-field comparison", 12),
    ("fd.snet = val(fd.snet)", "not supported for IP network fields", 0),
    ("tolower(proc.aname) = x", "does not support field transformers", 8),
    ("tolower(fd.ip) = x", "does not support field transformers", 8),
    ("tolower(proc.pid) = x", "'tolower' is not supported on int", 0),
    ("len(proc.pid) = 1", "'len' is not supported on int", 0),
    ("tolower(proc.name)[1] = x", "does not take an argument", 0),
    ("concat(proc.name) = x", "concat() requires at least 2 arguments", 0),
    ("join(',', proc.name) = x", "join() second argument must be a list", 0),
    ("getopt(proc.name, 'n:') = x", "getopt() first argument must be a list", 0),
    ("tolower(proc.name, proc.pname) = x", "wrong number of arguments", 0),
    ("some_macro", "Undefined macro 'some_macro' used in filter.", 0),
    ("proc.name = x and not other_macro", "Undefined macro 'other_macro' used in filter.", 22),
    ("proc.name = 'a\\x00b'", "NUL", 12),
    ("evt.res > anyof (1, 2)", "expected a number value", None),
]


@pytest.mark.parametrize("text,message,pos", ERRORS)
def test_compile_errors(text, message, pos, compile_text):
    if pos is None:  # rejected by the parser already
        from pdigpy.engine.grammar import ParseError

        with pytest.raises(ParseError, match=message):
            compile_text(text)
        return
    with pytest.raises(CompileError) as info:
        compile_text(text)
    assert message in info.value.message
    assert info.value.pos == pos


WARNINGS = [
    ("proc.name regex 'bash'", ["regex check with 'bash' may be optimized with simpler operators"]),
    ("proc.name regex '^bash$'", ["regex check with '^bash$' may be optimized"]),
    ("proc.name regex '.*bash'", ["may be optimized"]),
    ("proc.name regex 'ba+sh'", []),
    ("proc.name = proc.pname", ["'proc.pname' may be a valid field misused as a const string value"]),
    ("proc.name in (bash, proc.pname)", ["'proc.pname' may be a valid field misused"]),
    ("proc.name = 'proc.pname'", ["may be a valid field misused"]),
    ("proc.name = not.a.field", []),
    ("proc.name = 'tolower(proc.pname)'", ["'tolower(proc.pname)' may be a valid field transformer misused as a const string value"]),
    ("proc.name = 'val(proc.pname)'", ["may be a valid field transformer misused"]),
    ("proc.name = bash", []),
    ("evt.dir = <", ["field 'evt.dir' is deprecated"]),
]


@pytest.mark.parametrize("text,expected", WARNINGS)
def test_compile_warnings(text, expected, compile_text):
    warnings: list[CompileWarning] = []
    compile_text(text, warnings)
    assert len(warnings) == len(expected)
    for w, fragment in zip(warnings, expected):
        assert fragment in w.message
        code = "LOAD_DEPRECATED_ITEM" if "deprecated" in fragment else "LOAD_COMPILE_CONDITION"
        assert w.code == code
        assert w.pos >= 0


def test_deprecated_warning_names_the_field(compile_text):
    warnings: list[CompileWarning] = []
    compile_text("evt.dir = < and evt.dir = <", warnings)
    assert warnings == [CompileWarning("LOAD_DEPRECATED_ITEM", "field 'evt.dir' is deprecated", 0, "evt.dir")] or (
        len(warnings) == 2 and all(w.field == "evt.dir" for w in warnings)
    )


def test_warnings_are_optional(compile_text, make_ev):
    assert compile_text("proc.name regex 'bash'")(make_ev(BASH)) is True


def test_compiled_predicate_is_reusable_across_events(compile_text, make_ev):
    predicate = compile_text("proc.name in (bash, zsh) and not fd.name pmatch (/tmp)")
    events = [
        make_ev({"proc.name": "bash", "fd.name": "/etc/x"}),
        make_ev({"proc.name": "zsh", "fd.name": "/tmp/x"}),
        make_ev({"proc.name": "ksh", "fd.name": "/etc/x"}),
        make_ev({"fd.name": "/etc/x"}),
        make_ev({"proc.name": "zsh"}),
    ]
    # the last: fd.name is missing, so the pmatch check is false and its negation true
    assert [predicate(e) for e in events] == [True, False, False, False, True]
