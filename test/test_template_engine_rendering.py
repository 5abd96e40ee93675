"""The template engine's public functions: what parse returns and refuses, what render produces, and every error's wording."""

import pytest

from api import template_engine as engine
from api.template_engine import TemplateError, check_pattern, parse, render
from test.test_template_engine_limits import _refused


def test_a_template_error_carries_its_message_and_field_errors():
    assert str(TemplateError("Bad.")) == "Bad." and TemplateError("Bad.").errors == {}
    assert TemplateError("Bad.", {"body": ["x"]}).errors == {"body": ["x"]}


def test_parse_returns_the_variables_a_template_reads_but_not_range_or_its_own():
    source = "{{ range(3)|list }}{{ x }}{% set y = 1 %}{{ y }}{% for i in l %}{{ i }}{% endfor %}"
    assert parse(source, field="body") == {"x", "l"}


def test_parse_compiles_the_template_once_and_keeps_it_weighed_by_its_length():
    source = "{{ x }} kept after parse " + engine.__name__
    parse(source, field="body")
    template, weight = engine._templates.entries[source]
    assert weight == len(source) + 100
    assert engine._compile(source) is template


@pytest.mark.parametrize(
    ("source", "errors"),
    [
        ("ok\n{{ x ", ["line 2: unexpected end of template, expected 'end of print statement'."]),
        ("{% for loop in x %}{% endfor %}", ["line 1: Can't assign to special loop variable in for-loop target"]),
    ],
)
def test_a_template_that_does_not_parse_or_compile_is_a_syntax_error_on_its_field(source, errors):
    with pytest.raises(TemplateError) as refused:
        parse(source, field="title")
    assert str(refused.value) == "Template syntax error."
    assert refused.value.errors == {"title": errors}


def test_a_template_nested_too_deeply_to_parse_is_refused_saying_so():
    with pytest.raises(TemplateError) as refused:
        parse("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", field="body")
    assert str(refused.value) == "Template too deeply nested."
    assert refused.value.errors == {"body": ["Too deeply nested."]}


@pytest.mark.parametrize(
    ("source", "variables", "expected"),
    [
        ("a\n", {}, "a"),
        ("{{ '<b>' }}", {}, "<b>"),
        ("{{ a }}{{ b }}-", {"a": 1, "b": "x"}, "1x-"),
        ("{{ a ~ b ~ c }}", {"a": 1, "b": 2, "c": 3}, "123"),
        ("{{ [a, 2] }} {{ {'k': a} }} {{ (a, 2) }} {{ (a,) }}", {"a": 1}, "[1, 2] {'k': 1} (1, 2) (1,)"),
        ("{% set a, b = 1, 2 %}{{ a }}{{ b }}", {}, "12"),
        ("{% for k, v in d.items() %}{{ k }}{{ v }}{% endfor %}", {"d": {"x": 1}}, "x1"),
        ("{% for x in items %}{{ x }}{% endfor %}", {"items": iter([1, 2])}, "12"),
        ("{{ range(2)|list }}", {}, "[0, 1]"),
        (
            "{% for x in tree recursive %}{{ x.n }}{{ loop(x.kids) }}{% endfor %}",
            {"tree": [{"n": 1, "kids": [{"n": 2, "kids": []}]}]},
            "12",
        ),
        ("{{ 7 - 2 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ 7 % 4 }} {{ 2 ** 3 }} {{ 2 * 3 }} {{ 2 + 3 }}", {}, "5 3.5 3 3 8 6 5"),
        ("{{ '%s=%d' % ('a', 1) }} {{ '{}={}'.format('a', 1) }} {{ '{a}'.format_map({'a': 2}) }}", {}, "a=1 a=1 2"),
        ("{% filter upper %}a{{ b }}{% endfilter %}", {"b": "b"}, "AB"),
    ],
)
def test_a_template_renders_as_jinja_does_without_escaping_or_a_trailing_newline(source, variables, expected):
    assert render(source, variables) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ missing }}", "Undefined value: 'missing' is undefined"),
        ("{{ missing() }}", "Undefined value: 'missing' is undefined"),
        ("{{ 1 + 'a' }}", "The template failed to render: TypeError: unsupported operand type(s) for +: 'int' and 'str'"),
        ("{{ 1 // 0 }}", "The template failed to render: ZeroDivisionError: integer division or modulo by zero"),
        ("{{ [1][5] }}", "Undefined value: list object has no element 5"),
        ("{{ 'ab'.index('z') }}", "The template failed to render: ValueError: substring not found"),
        ("{{ x", "Template syntax error: line 1: unexpected end of template, expected 'end of print statement'."),
        ("{{ ''.__class__ }}", "Refused by the template sandbox: access to attribute '__class__' of 'str' object is unsafe."),
    ],
)
def test_a_render_failure_says_what_went_wrong(source, message):
    assert _refused(source) == message


def test_long_failure_messages_are_cut_to_their_bounds():
    failed = _refused("{{ 'a'.encode(codec) }}", {"codec": "q" * 300})
    assert failed == "The template failed to render: LookupError: " + ("unknown encoding: " + "q" * 300)[:200]
    assert _refused("{{ " + "m" * 300 + " }}") == "Undefined value: '" + "m" * 199
    syntax = _refused("{{ x " + "a" * 400 + " }}")
    assert len(syntax) == 300 and syntax.startswith("Template syntax error: line 1: expected token 'end of print statement'")
    named = type("P" * 300, (), {"m": lambda self: 1})()
    sandbox = _refused("{{ p.m() }}", {"p": named})
    assert sandbox == "Refused by the template sandbox: calling " + "P" * 192


def test_check_pattern_explains_an_invalid_pattern_and_accepts_a_valid_one():
    assert check_pattern("(") == "Not a valid regular expression: missing ) at position 1"
    assert check_pattern("a+") is None
