"""The template sandbox's limits at their exact boundaries, the work each operation counts, and the render deadline.

The deadline tests use a clock the test moves (api.template_engine reads time.monotonic only through its `time`),
from inside a template through a variable's attribute, so nothing depends on how fast the machine is.
"""

import sys

import pytest

from api import template_engine as engine
from api.template_engine import MAX_INT_BITS, MAX_OUTPUT, MAX_RANGE, MAX_SOURCE, MAX_VALUE, MAX_WORK, TemplateError, parse, render

LARGE = "Refused: the template would build a value larger than 262144 characters or items."
BITS = f"Refused: the template would compute a number of more than {MAX_INT_BITS} bits."
ALL = f"Refused: the template would build more than {MAX_WORK} characters in all."
SLOW = "The template took longer than 0.5 s to render."


class Clock:
    """Stands in for the time module; templates move it with `clock.later` (past any deadline) or `clock.step`."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now

    @property
    def later(self):
        self.now += 10
        return ""

    @property
    def step(self):
        self.now += 0.2
        return ""


class TickingClock(Clock):
    """Moves 10 ms at every reading, as a busy render would."""

    def monotonic(self):
        self.now += 0.01
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(engine, "time", fake)
    return fake


def _work(source, **variables):
    """The characters one render counts towards MAX_WORK, and its output."""
    with engine.shared_budget():
        output = render(source, variables)
        return engine._budget.get().work, output


def _refused(source, variables=None):
    with pytest.raises(TemplateError) as refused:
        render(source, variables or {})
    assert refused.value.errors == {}
    return str(refused.value)


def test_the_limits_are_the_documented_ones():
    assert (MAX_SOURCE, MAX_OUTPUT, MAX_VALUE, MAX_WORK, MAX_INT_BITS, MAX_RANGE, engine.RENDER_SECONDS) == (
        20_000,
        65_536,
        262_144,
        4_000_000,
        8_192,
        10_000,
        0.5,
    )
    assert engine._templates.limit == 400_000


def test_a_template_of_max_source_characters_is_accepted_and_one_more_is_refused():
    assert parse("x" * MAX_SOURCE, field="body") == set()
    with pytest.raises(TemplateError) as refused:
        parse("x" * (MAX_SOURCE + 1), field="body")
    assert str(refused.value) == "Template too long."
    assert refused.value.errors == {"body": ["At most 20000 characters."]}


def test_an_output_of_max_output_characters_is_rendered_and_one_more_is_refused():
    assert len(render("{{ s }}", {"s": "x" * MAX_OUTPUT})) == MAX_OUTPUT
    assert len(render("{{ s }}{{ s }}", {"s": "x" * (MAX_OUTPUT // 2)})) == MAX_OUTPUT
    for source in ("{{ s }}", "{{ s }}x"):
        length = MAX_OUTPUT + 1 - len(source) + len("{{ s }}")
        assert _refused(source, {"s": "x" * length}) == f"The template produced more than {MAX_OUTPUT} characters."


def test_a_value_printed_whole_is_weighed_before_it_is_turned_into_text():
    # ['x...x'] weighs len + 6 and prints as len + 4 characters.
    assert len(render("{{ l }}", {"l": ["x" * (MAX_OUTPUT - 6)]})) == MAX_OUTPUT - 2
    assert _refused("{{ l }}", {"l": ["x" * (MAX_OUTPUT - 5)]}) == f"The template produced more than {MAX_OUTPUT} characters."
    assert render("{{ n }}", {"n": 7}) == "7"


def test_a_concatenation_of_max_value_characters_is_built_and_one_more_is_refused():
    half = "x" * (MAX_VALUE // 2)
    assert render("{{ (a ~ b)|length }}", {"a": half, "b": half}) == str(MAX_VALUE)
    assert _refused("{{ (a ~ b ~ 'y')|length }}", {"a": half, "b": half}) == LARGE


def test_a_set_block_of_max_value_characters_is_kept_and_one_more_is_refused():
    half = "x" * (MAX_VALUE // 2)
    assert render("{% set x %}{{ a }}{{ a }}{% endset %}{{ x|length }}", {"a": half}) == str(MAX_VALUE)
    assert _refused("{% set x %}{{ a }}{{ a }}y{% endset %}{{ x|length }}", {"a": half}) == LARGE


def test_a_literal_weighing_more_than_max_value_is_refused_before_it_is_used():
    assert render("{{ [a]|length }}", {"a": "x" * (MAX_VALUE - 6)}) == "1"
    for source in ("{{ [a]|length }}", "{{ (a, 1)|length }}", "{{ {'k': a}|length }}"):
        assert _refused(source, {"a": "x" * MAX_VALUE}) == LARGE


@pytest.mark.parametrize("operator", ["+", "-", "*", "/", "//", "%"])
def test_each_integer_operator_up_to_max_int_bits_is_computed_and_one_bit_more_refused(operator):
    below, at = 2 ** (MAX_INT_BITS - 2), 2 ** (MAX_INT_BITS - 1)
    right = 3 if operator != "*" else 2
    if operator == "*":
        below, at = 2 ** (MAX_INT_BITS - 3), 2 ** (MAX_INT_BITS - 2)
    if operator == "/":
        below = 2**1000  # a true division gives a float
    assert render(f"{{{{ (n {operator} m) > 0 }}}}", {"n": below, "m": right}) == "True"
    assert _refused(f"{{{{ n {operator} m }}}}", {"n": at, "m": right}) == BITS


def test_a_power_is_refused_when_its_result_could_pass_max_int_bits():
    assert render("{{ (n ** m).bit_length() }}", {"n": 3, "m": MAX_INT_BITS // 2}) == "6493"
    assert _refused("{{ n ** m }}", {"n": 3, "m": MAX_INT_BITS // 2 + 1}) == BITS


def test_a_string_operator_is_sized_before_it_builds():
    assert render("{{ (a + a)|length }} {{ (a * 2)|length }}", {"a": "x" * (MAX_VALUE // 2)}) == f"{MAX_VALUE} {MAX_VALUE}"
    assert _refused("{{ a + a }}", {"a": "x" * (MAX_VALUE // 2 + 1)}) == LARGE
    assert _refused("{{ a * 2 }}", {"a": "x" * (MAX_VALUE // 2 + 1)}) == LARGE
    formatted = _refused("{{ ('%s' % a)|length }}", {"a": "x" * MAX_VALUE})
    assert formatted.endswith("a formatted string of more than 262144 characters.")


def test_a_range_of_max_range_items_is_allowed_and_one_more_refused():
    assert render("{{ range(n)|list|length }}", {"n": MAX_RANGE}) == str(MAX_RANGE)
    assert render("{{ range(1, 7, 2)|list }}", {}) == "[1, 3, 5]"
    assert _refused("{{ range(n)|list|length }}", {"n": MAX_RANGE + 1}) == f"range() is limited to {MAX_RANGE} items."


def test_a_format_call_is_sized_before_it_formats():
    text = "x" * (MAX_VALUE - 50)
    for source in ("{{ '{}'.format(t) }}", "{{ '{a}'.format_map({'a': t}) }}", "{{ '{a}'.format(a=t) }}"):
        assert _refused(source, {"t": text}).endswith("a formatted string of more than 262144 characters."), source
    assert render("{{ '{a}'.format_map(m)|length }}", {"m": {"a": "x" * 10}}) == "10"


def test_a_call_is_sized_from_keyword_arguments_even_ones_the_method_then_refuses():
    # str methods take their arguments by position; a keyword one is still counted, so size is refused first.
    large, half = "y" * (MAX_VALUE + 1), "x" * (MAX_VALUE // 2 + 1)
    for source in (
        "{{ 'x'.ljust(width=n) }}",
        "{{ 'x'.replace(old='x', new=t) }}",
        "{{ 'x'.translate(table=m) }}",
        "{{ '-'.join(iterable=l) }}",
    ):
        assert _refused(source, {"n": MAX_VALUE + 1, "t": large, "m": {120: large}, "l": [half, half]}) == LARGE, source
    # At most one replacement: within the limit whether the method takes `count` (3.13+) or not.
    counted = render if sys.version_info >= (3, 13) else _refused
    assert counted("{{ s.replace('x', 'yy', count=1)|length }}", {"s": half}) != LARGE


def test_indenting_a_value_that_is_not_text_is_sized_from_its_weight_before_it_fails():
    # 5 weighs 3 and counts as 4 lines: 3 + 4 * 65535 is just under MAX_VALUE, 3 + 4 * 65536 just over.
    assert _refused("{{ n|indent(w) }}", {"n": 5, "w": 65535}).startswith("The template failed to render: TypeError")
    assert _refused("{{ n|indent(w) }}", {"n": 5, "w": 65536}) == LARGE


def test_a_call_is_sized_with_its_keyword_arguments():
    tabs = "\t" * 40_000
    assert render("{{ t.expandtabs(tabsize=4)|length }}", {"t": tabs}) == "160000"
    assert render("{{ (1).to_bytes(length=n, byteorder='big')|length }}", {"n": MAX_VALUE}) == str(MAX_VALUE)
    assert _refused("{{ (1).to_bytes(length=n, byteorder='big') }}", {"n": MAX_VALUE + 1}) == LARGE


@pytest.mark.parametrize(
    ("source", "work"),
    [
        ("{{ s|upper }}{{ s|lower }}{{ s|title }}{{ s|capitalize }}{{ s|trim }}{{ s|wordcount }}{{ s|string }}", 70),
        ("{{ s|sort|length }}{{ s|unique|first }}{{ s|list|length }}", 30),
        ("{{ s|trim(c) }}", 13),
        ("{{ s|truncate(5) }}", 13),
        ("{{ s|join }}", 10),
        ("{{ s|join('-') }}", 19),
        ("{{ s|join(d='--') }}", 28),
        ("{{ s|replace('x', 'yy') }}", 20),
        ("{{ s|replace('x', 'yy', 3) }}", 13),
        ("{{ s|replace('x', 'yy', count=3) }}", 13),
        ("{{ s|replace(old='x', new='yy') }}", 20),
        ("{{ t|indent }}", 13),
        ("{{ t|indent(3) }}", 11),
        ("{{ t|indent(width=3) }}", 11),
        ("{{ t|indent('--') }}", 9),
        ("{{ s|length }}{{ s|first }}{{ s|last }}{{ s|default(1) }}{{ '5'|int }}", 0),
        ("{{ s ~ s }}", 20),
        ("{{ [s, s]|length }}{{ (s, s)|length }}{{ {'a': s}|length }}", 5),
        ("{% set y %}{{ s }}{{ s }}{% endset %}{{ y|length }}", 20),
        ("{{ s + s }}", 20),
        ("{{ s * 3 }}", 30),
        ("{{ n + 1 }}", 2),
        ("{{ s.upper() }}", 30),
        ("{{ s.center(20) }}", 20),
        ("{{ '-'.join([s, s]) }}", 23),
        ("{{ '{}'.format(s) }}", 112),
        ("{{ '%s' % s }}", 114),
        ("{{ (5).to_bytes(4, 'big')|length }}", 4),
        ("{{ [s].copy()|length }}", 2),
        ("{% for i in range(3) %}{{ loop.cycle('a') }}{% endfor %}", 0),
        ("{{ range(2)|first }}", 0),
        ("{% for x in tree recursive %}{{ x.n }}{{ loop(x.kids) }}{% endfor %}", 3),
    ],
)
def test_each_operation_counts_what_it_builds_towards_max_work(source, work):
    variables = {"s": "x" * 10, "c": "abc", "t": "ab\ncd", "n": 2**20, "tree": [{"n": 1, "kids": [{"n": 2, "kids": []}]}]}
    assert _work(source, **variables)[0] == work


def test_a_render_may_build_exactly_max_work_characters_in_all_and_not_one_more(clock):
    loop = "{% for i in range(20) %}{{ (a ~ '')|length }}{% endfor %}{{ range(1)|first }}"
    variables = {"a": "x" * (MAX_WORK // 20)}
    assert render(loop, variables) == "200000" * 20 + "0"
    assert _refused(loop + "{{ b ~ '' }}", {**variables, "b": "y"}) == ALL


def test_a_call_missing_its_width_counts_no_work_before_it_fails(clock):
    loop = "{% for i in range(20) %}{{ (a ~ '')|length }}{% endfor %}{{ ''.center() }}"
    failed = _refused(loop, {"a": "x" * (MAX_WORK // 20)})
    assert failed.startswith("The template failed to render: TypeError: center expected at least 1 argument")


def test_work_adds_up_across_the_renders_of_a_shared_budget_only(clock):
    source, variables = "{{ (a ~ '')|length }}", {"a": "x" * (MAX_WORK // 20)}
    for _ in range(25):
        assert render(source, variables) == str(MAX_WORK // 20)
    with engine.shared_budget():
        for _ in range(20):
            render(source, variables)
        with pytest.raises(TemplateError, match=ALL):
            render("{{ b ~ '' }}", {"b": "y"})
    assert render(source, variables) == str(MAX_WORK // 20)


def test_a_nested_shared_budget_goes_on_counting_in_the_outer_one(clock):
    source, variables = "{{ (a ~ '')|length }}", {"a": "x" * (MAX_WORK // 20)}
    with engine.shared_budget():
        for _ in range(5):
            render(source, variables)
        with engine.shared_budget():
            for _ in range(10):
                render(source, variables)
        for _ in range(5):
            render(source, variables)
        with pytest.raises(TemplateError, match=ALL):
            render("{{ b ~ '' }}", {"b": "y"})


def test_a_render_past_its_deadline_stops_at_the_next_output(clock):
    assert _refused("{{ clock.later }}", {"clock": clock}) == SLOW


@pytest.mark.parametrize(
    "source",
    [
        "{% set t = clock.later %}{% set y = a ~ b %}",
        "{% set t = clock.later %}{% if 4 in range(5) %}{% endif %}",
        "{% for k in d.keys() %}{% set t = clock.later %}{% endfor %}",
    ],
)
def test_a_render_past_its_deadline_stops_before_its_next_step_even_without_output(clock, source):
    assert _refused(source, {"clock": clock, "a": "a", "b": "b", "d": {"k": 1, "l": 2, "m": 3}}) == SLOW


def test_a_range_checks_the_deadline_at_each_item_even_outside_a_loop(monkeypatch):
    monkeypatch.setattr(engine, "time", TickingClock())
    assert render("{{ 3 in range(5) }}", {}) == "True"
    assert _refused("{{ 9999 in range(10000) }}") == SLOW


def test_a_loop_checks_the_deadline_before_each_step(clock):
    taken = []

    def items():
        for item in range(100):
            taken.append(item)
            clock.now += 10
            yield item

    assert _refused("{% for x in items %}{% endfor %}", {"items": items()}) == SLOW
    assert taken == [0]


@pytest.mark.parametrize(
    "source",
    [
        "{% set t = clock.later %}{{ 'x' * n }}",
        "{% set t = clock.later %}{{ l|join(sep) }}",
        "{% set t = clock.later %}{{ 'x'.ljust(n) }}",
    ],
)
def test_a_step_past_the_deadline_is_refused_for_time_before_it_is_sized(clock, source):
    variables = {"clock": clock, "n": MAX_VALUE + 1, "l": ["x"] * 3, "sep": "y" * MAX_VALUE}
    assert _refused(source, variables) == SLOW


def test_the_deadline_is_half_a_second_after_the_render_starts_and_not_before(clock):
    budget = engine._Budget(0.5)
    actions = {"check": budget.check, "start": budget.start, "stop": budget.stop, "spend": lambda: budget.spend(0)}
    # (time, action, whether it passes): made at 1000, rendering 2000-2000.2, then again from 3000 with 0.3 s left.
    steps = [
        (1000.5, "check", True),
        (1000.51, "check", False),
        (2000.0, "start", True),
        (2000.2, "stop", True),
        (3000.0, "start", True),
        (3000.3, "check", True),
        (3000.31, "check", False),
        (3000.31, "spend", False),
    ]
    for now, action, passes in steps:
        clock.now = now
        if passes:
            actions[action]()
        else:
            with pytest.raises(TemplateError, match=f"^{SLOW}$"):
                actions[action]()


def test_the_work_of_a_budget_starts_at_zero_and_may_reach_max_work(clock):
    budget = engine._Budget(0.5)
    budget.spend(MAX_WORK)
    with pytest.raises(TemplateError, match=f"^{ALL}$"):
        budget.spend(1)


def test_renders_in_a_shared_budget_share_its_time_but_not_the_time_between_them(clock):
    with engine.shared_budget():
        render("{{ clock.step }}", {"clock": clock})
        clock.now += 60  # a tracker call between two renders
        render("{{ clock.step }}", {"clock": clock})
        with pytest.raises(TemplateError, match=f"^{SLOW}$"):
            render("{{ clock.step }}", {"clock": clock})


def test_a_render_that_fails_to_compile_in_a_shared_budget_does_not_count_the_time_before_it(clock):
    with engine.shared_budget():
        render("{{ 1 }}", {})
        clock.now += 60
        with pytest.raises(TemplateError, match=r"^Template syntax error"):
            render("{{ ", {})
        assert render("{{ clock.step }}{{ clock.step }}", {"clock": clock}) == ""


def test_a_render_outside_a_shared_budget_has_its_own_half_second(clock):
    for _ in range(5):
        assert render("{{ clock.step }}{{ clock.step }}", {"clock": clock}) == ""
