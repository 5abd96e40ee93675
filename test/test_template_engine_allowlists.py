"""The template sandbox's allowlists: every listed method, filter and test works, anything else is refused by name."""

import functools
import sys

import pytest

from api import template_engine
from api.template_engine import TemplateError, parse, render

STRING_METHODS = [
    ("'aB'.capitalize()", "Ab"),
    ("'Straße'.casefold()", "strasse"),
    ("'aB'.lower()", "ab"),
    ("'aB'.upper()", "AB"),
    ("'aB'.swapcase()", "Ab"),
    ("'ab cd'.title()", "Ab Cd"),
    ("' a '.strip()", "a"),
    ("' a '.lstrip()", "a "),
    ("' a '.rstrip()", " a"),
    ("'abc'.removeprefix('a')", "bc"),
    ("'abc'.removesuffix('c')", "ab"),
    ("'abca'.count('a')", "2"),
    ("'abca'.find('a')", "0"),
    ("'abca'.rfind('a')", "3"),
    ("'abca'.index('b')", "1"),
    ("'abca'.rindex('a')", "3"),
    ("'abc'.startswith('a')", "True"),
    ("'abc'.endswith('c')", "True"),
    ("'a1'.isalnum()", "True"),
    ("'a1'.isalpha()", "False"),
    ("'a'.isascii()", "True"),
    ("'12'.isdecimal()", "True"),
    ("'12'.isdigit()", "True"),
    ("'a_1'.isidentifier()", "True"),
    ("'ab'.islower()", "True"),
    ("'12'.isnumeric()", "True"),
    ("'a'.isprintable()", "True"),
    ("' '.isspace()", "True"),
    ("'Ab'.istitle()", "True"),
    ("'AB'.isupper()", "True"),
    ("'a b'.split()", "['a', 'b']"),
    ("'a b c'.rsplit(' ', 1)", "['a b', 'c']"),
    ("'a\nb'.splitlines()", "['a', 'b']"),
    ("'a=b'.partition('=')", "('a', '=', 'b')"),
    ("'a=b=c'.rpartition('=')", "('a=b', '=', 'c')"),
    ("'é'.encode('utf-8')", "b'\\xc3\\xa9'"),
    ("'é'.encode('utf-8').decode('utf-8')", "é"),
    ("'ab'.encode().hex()", "6162"),
    ("'a'.center(5, '*')", "**a**"),
    ("'a'.ljust(3, '.')", "a.."),
    ("'a'.rjust(3, '.')", "..a"),
    ("'7'.zfill(3)", "007"),
    ("'a\tb'.expandtabs(4)", "a   b"),
    ("'aXa'.replace('a', 'b')", "bXb"),
    ("'-'.join(['a', 'b'])", "a-b"),
    ("'abc'.translate({97: 'z'})", "zbc"),
]
OTHER_METHODS = [
    ("(255).bit_length()", "8"),
    ("(255).bit_count()", "8"),
    ("(5).conjugate()", "5"),
    ("(6).as_integer_ratio()", "(6, 1)"),
    ("(258).to_bytes(2, 'big')", "b'\\x01\\x02'"),
    ("(1.5).conjugate()", "1.5"),
    ("(1.5).as_integer_ratio()", "(3, 2)"),
    ("(1.5).is_integer()", "False"),
    ("(1.5).hex()", "0x1.8000000000000p+0"),
    ("[1, 2, 1].count(1)", "2"),
    ("[1, 2].index(2)", "1"),
    ("[1, 2].copy()", "[1, 2]"),
    ("(1, 2, 1).count(1)", "2"),
    ("(1, 2).index(2)", "1"),
    ("{'a': 1}.get('a')", "1"),
    ("{'a': 1}.items()|list", "[('a', 1)]"),
    ("{'a': 1}.keys()|list", "['a']"),
    ("{'a': 1}.values()|list", "[1]"),
    ("{'a': 1}.copy()", "{'a': 1}"),
]
FILTERS = [
    ("'aB'|upper", "AB"),
    ("'aB'|lower", "ab"),
    ("'ab cd'|title", "Ab Cd"),
    ("'aB'|capitalize", "Ab"),
    ("' a '|trim", "a"),
    ("missing|default('x')", "x"),
    ("missing|d('y')", "y"),
    ("'aa'|replace('a', 'b')", "bb"),
    ("'abcdefgh'|truncate(5, leeway=0)", "ab..."),
    ("['a', 'b']|join('-')", "a-b"),
    ("range(3)|join(',')", "0,1,2"),
    ("'abc'|length", "3"),
    ("'abc'|first", "a"),
    ("'abc'|last", "c"),
    ("'12'|int + 1", "13"),
    ("12|string ~ '!'", "12!"),
    ("'ab'|list", "['a', 'b']"),
    ("[2, 1]|sort", "[1, 2]"),
    ("[1, 1, 2]|unique|list", "[1, 2]"),
    ("'a b c'|wordcount", "3"),
    ("'a\nb'|indent(2)", "a\n  b"),
]
TESTS = [
    ("x is defined", "True"),
    ("missing is undefined", "True"),
    ("none is none", "True"),
    ("1 is number", "True"),
    ("'a' is string", "True"),
    ("x is sameas x", "True"),
]
CONSTRUCTS = [
    ("{% macro m() %}{% endmacro %}", "macros"),
    ("{% call m() %}{% endcall %}", "call blocks"),
    ("{% include 'x' %}", "includes"),
    ("{% import 'x' as y %}", "imports"),
    ("{% from 'x' import y %}", "imports"),
    ("{% extends 'x' %}", "template inheritance"),
    ("{% block b %}{% endblock %}", "blocks"),
]


class Probe:
    def method(self):
        return "called"

    def upper(self):
        return "called"

    def count(self):
        return "called"


def _render(expression, **variables):
    return render(f"{{{{ {expression} }}}}", {"x": "v", "none": None, **variables})


@pytest.mark.parametrize(("expression", "expected"), STRING_METHODS, ids=[case[0] for case in STRING_METHODS])
def test_each_allowlisted_string_method_can_be_called(expression, expected):
    assert _render(expression) == expected


def test_an_integer_can_say_it_is_one_where_python_gives_ints_the_method():
    if sys.version_info >= (3, 12):
        assert _render("(6).is_integer()") == "True"
    else:  # int.is_integer() exists from Python 3.12: here the name is allowlisted but no int has it
        with pytest.raises(TemplateError, match="'int object' has no attribute 'is_integer'"):
            _render("(6).is_integer()")


def test_a_bytes_value_can_be_decoded():
    assert _render("b.decode('ascii')", b=b"ab") == "ab"


@pytest.mark.parametrize(("expression", "expected"), OTHER_METHODS, ids=[case[0] for case in OTHER_METHODS])
def test_each_allowlisted_number_list_tuple_and_dict_method_can_be_called(expression, expected):
    assert _render(expression) == expected


@pytest.mark.parametrize(
    ("expression", "what"),
    [
        ("b.fromhex('01')", "bytes.fromhex"),
        ("(1.5).fromhex('1')", "float.fromhex"),
        ("{}.fromkeys('ab')", "dict.fromkeys"),
        ("(3).from_bytes(b, 'big')", "int.from_bytes"),
        ("probe.method()", "Probe.method"),
        ("probe.upper()", "Probe.upper"),
        ("probe.count()", "Probe.count"),
    ],
)
def test_a_method_outside_the_allowlist_is_refused_naming_its_type_and_name(expression, what):
    if not expression.endswith(")"):
        expression += "({})"
    with pytest.raises(TemplateError) as refused:
        _render(expression, b=b"\x01", probe=Probe())
    assert str(refused.value) == f"Refused by the template sandbox: calling {what}() is not allowed in templates"


@pytest.mark.parametrize(("function", "what"), [(lambda: 1, "<lambda>"), (functools.partial(len, "ab"), "partial")])
def test_a_callable_without_an_owner_is_refused_naming_it_or_its_type(function, what):
    with pytest.raises(TemplateError) as refused:
        render("{{ f() }}", {"f": function})
    assert str(refused.value) == f"Refused by the template sandbox: calling {what}() is not allowed in templates"


@pytest.mark.parametrize(("expression", "expected"), FILTERS, ids=[case[0] for case in FILTERS])
def test_each_allowlisted_filter_renders(expression, expected):
    assert parse(f"{{{{ {expression} }}}}", field="body") <= {"x", "missing"}
    assert _render(expression) == expected


@pytest.mark.parametrize(("expression", "expected"), TESTS, ids=[case[0] for case in TESTS])
def test_each_allowlisted_test_renders(expression, expected):
    parse(f"{{{{ {expression} }}}}", field="body")
    assert _render(expression) == expected


def test_a_filter_and_a_test_outside_the_allowlists_are_refused_at_save_listing_what_is_allowed():
    with pytest.raises(TemplateError) as refused:
        parse("{{ x|center(9) }}\n{{ 3 is odd }}", field="title")
    assert str(refused.value) == "Unsupported template construct."
    assert refused.value.errors == {
        "title": [
            "line 1: the filter 'center' is not allowed (allowed: " + ", ".join(sorted(template_engine.SAFE_FILTERS)) + ")",
            "line 2: the test 'odd' is not allowed (allowed: " + ", ".join(sorted(template_engine.SAFE_TESTS)) + ")",
        ]
    }
    assert "capitalize, d, default, first, indent, int, join, last" in refused.value.errors["title"][0]
    assert refused.value.errors["title"][1].endswith("(allowed: defined, none, number, sameas, string, undefined)")


def test_the_environment_offers_exactly_the_allowlisted_filters_tests_and_range():
    environment = template_engine._environment
    assert sorted(environment.filters) == sorted(template_engine.SAFE_FILTERS)
    assert sorted(environment.tests) == sorted(template_engine.SAFE_TESTS)
    assert list(environment.globals) == ["range"]


@pytest.mark.parametrize(("source", "what"), CONSTRUCTS, ids=[case[1] for case in CONSTRUCTS])
def test_each_forbidden_construct_is_refused_at_save_naming_it_and_its_line(source, what):
    with pytest.raises(TemplateError) as refused:
        parse("text\n" + source, field="body")
    assert str(refused.value) == "Unsupported template construct."
    assert refused.value.errors == {"body": [f"line 2: {what} are not allowed in issue templates"]}


def test_every_forbidden_construct_in_one_template_is_listed_once_each():
    source = "{% macro m() %}{% endmacro %}{% import 'a' as a %}{% from 'b' import c %}{{ x|center }}{{ x|center }}"
    with pytest.raises(TemplateError) as refused:
        parse(source, field="body")
    problems = refused.value.errors["body"]
    assert problems[:2] == [
        "line 1: macros are not allowed in issue templates",
        "line 1: imports are not allowed in issue templates",
    ]
    assert len(problems) == 3 and problems[2].startswith("line 1: the filter 'center' is not allowed")
