"""The template sandbox's size estimates: each is an upper bound of what the operation builds, computed before it runs.

The estimates are exact formulas (docstrings of api/template_engine.py); pinning them keeps a loosened or broken
formula from passing unnoticed, and each case also checks the estimate is not below what Python really builds.
"""

import re

import pytest

from api import template_engine as engine
from api.template_engine import MAX_INT_BITS, MAX_VALUE, TemplateError

LARGE = "Refused: the template would build a value larger than 262144 characters or items."
FORMATTED = "Refused: the template would build a formatted string of more than 262144 characters."


@pytest.mark.parametrize(
    ("value", "weight"),
    [
        ("abc", 5),
        (b"ab", 4),
        (255, 4),
        (2**30, 12),
        (1.5, 24),
        ({"a": 1}, 11),
        ({"a": 1, "b": 22}, 21),
        (["ab", 3], 12),
        (("a",), 7),
        ({1, 2}, 10),
        (frozenset({1}), 6),
        ({"a": 1}.keys(), 7),
        ({"a": 1}.values(), 6),
        ({"a": 1}.items(), 15),
        (None, 80),
        ([], 2),
        ([["a"], {"b": "c"}], 25),
    ],
)
def test_the_weight_of_a_value_is_about_what_printing_it_takes(value, weight):
    assert engine._weight(value) == weight


def test_the_weight_stops_counting_once_past_its_limit_but_not_at_it():
    assert engine._weight(["ab", "cd"], limit=5) == 6
    assert engine._weight(["ab", "cd"], limit=6) == 10
    assert engine._weight(["ab", "cd"], limit=10) == 14


def test_the_size_of_a_string_is_its_length_and_of_anything_else_its_weight():
    assert engine._size("abc") == 3
    assert engine._size(b"abcd") == 4
    assert engine._size(["abc"]) == 9


def test_a_size_up_to_max_value_passes_and_one_more_is_refused_saying_what():
    assert engine._limited(MAX_VALUE) == MAX_VALUE
    with pytest.raises(TemplateError) as refused:
        engine._limited(MAX_VALUE + 1)
    assert str(refused.value) == LARGE and refused.value.errors == {}
    with pytest.raises(TemplateError, match=r"^Refused: the template would build a thing\.$"):
        engine._limited(MAX_VALUE + 1, "a thing")


def test_a_width_of_up_to_nine_digits_is_read_and_a_longer_one_counts_as_too_large():
    assert engine._number("7") == 7
    assert engine._number("999999999") == 999_999_999
    assert engine._number("1000000000") == MAX_VALUE + 1


@pytest.mark.parametrize(
    ("value", "numbers", "as_repr", "size"),
    [
        (True, [], False, 108),
        (None, [3], False, 111),
        (255, [], False, 122),
        (1.5, [2, 3], False, 555),
        ("ab", [], True, 140),
        ("ab", [], False, 104),
        ("ab", [7], False, 111),
    ],
)
def test_a_formatted_field_takes_its_printed_value_plus_widths_plus_a_margin(value, numbers, as_repr, size):
    assert engine._field_size(value, numbers, as_repr) == size


@pytest.mark.parametrize(
    ("fmt", "args", "size"),
    [
        ("%s-%5d", ("ab", 7), 227),
        (b"%s", (b"ab",), 106),
        (b"\xff%s", b"ab", 107),
        ("%s", "ab", 106),
        ("%*d|%.*f", (4, 7, 2, 1.5), 676),
        ("%(a)r %%", {"a": "x"}, 138),
        ("%%%s", ("ab",), 108),
        ("%a", ("ab",), 142),
        ("%*d", (1, 5), 116),
        ("%*d", (-3, 5), 115),
        ("%*d", ("x", 5), 115),
        ("%d%s", (7,), 224),
        ("%(a)s", ("x",), 113),
        ("%s%s", (12, "abc"), 223),
    ],
)
def test_a_percent_format_is_sized_from_its_fields_and_arguments(fmt, args, size):
    assert engine._percent_size(fmt, args) == size
    try:
        built = len(fmt % args)
    except (TypeError, ValueError, KeyError):
        return
    assert size >= built


def test_a_percent_format_with_a_missing_star_argument_is_sized_without_failing():
    assert engine._percent_size("%d%*d", (1,)) == 221
    assert engine._percent_size("%d%.*d", (1,)) == 222


def test_a_percent_format_too_wide_is_refused_as_a_formatted_string():
    with pytest.raises(TemplateError) as refused:
        engine._percent_size("%999999999d", 1)
    assert str(refused.value) == FORMATTED


@pytest.mark.parametrize(
    ("fmt", "args", "kwargs", "size"),
    [
        ("{}-{:>5}", ("ab", 7), {}, 222),
        ("{0}{1!r}{k}", ("ab", "c"), {"k": 3}, 344),
        ("{}{}", ("a",), {}, 211),
        ("{{{}", ("ab",), {}, 105),
        ("{{{}{}", ("ab", "cd"), {}, 209),
        ("{1}", ("a",), {}, 108),
        ("{k}", (), "k", 108),
        ("{!a}", ("ab",), {}, 140),
        ("{:10.3}", ("ab",), {}, 117),
    ],
)
def test_a_str_format_is_sized_from_its_fields_and_arguments(fmt, args, kwargs, size):
    assert engine._format_size(fmt, args, kwargs) == size


def test_a_str_format_with_a_field_inside_a_format_specification_is_refused():
    with pytest.raises(TemplateError) as refused:
        engine._format_size("{:{}}", ("a", 3), {})
    assert str(refused.value) == "Refused: replacement fields inside a format specification are not allowed."
    with pytest.raises(TemplateError, match=re.escape(FORMATTED)):
        engine._format_size("{:>999999999}", (1,), {})


@pytest.mark.parametrize(
    ("operator", "left", "right", "size"),
    [
        ("+", 2**15, 1, 2),
        ("-", 2**15, 1, 2),
        ("*", 255, 255, 2),
        ("**", 3, 20, 5),
        ("**", 2, 20, 5),
        ("**", 5, -2, 8),
        ("**", 3, 0, 0),
        ("**", 1, 10**6, 8),
        ("**", -1, 10**6, 8),
        ("//", 2**20, 3, 2),
        ("%", 2**20, 3, 2),
    ],
)
def test_integer_arithmetic_is_sized_in_bytes_from_the_operands_bits(operator, left, right, size):
    assert engine._int_bits(operator, left, right) == size


@pytest.mark.parametrize(
    ("operator", "left", "right"),
    [
        ("+", 2**8191 - 1, 1),
        ("*", 2**4095, 2**4095),
        ("**", 3, 4096),
    ],
)
def test_integer_arithmetic_up_to_max_int_bits_is_allowed_and_one_bit_more_refused(operator, left, right):
    assert engine._int_bits(operator, left, right) == MAX_INT_BITS // 8
    bigger = {"+": (left * 2 + 1, right), "*": (left * 2, right), "**": (left, right + 1)}[operator]
    with pytest.raises(TemplateError) as refused:
        engine._int_bits(operator, *bigger)
    assert str(refused.value) == f"Refused: the template would compute a number of more than {MAX_INT_BITS} bits."


@pytest.mark.parametrize(
    ("operator", "left", "right", "size"),
    [
        ("%", "%s", "ab", 106),
        ("%", b"%s", (b"ab",), 106),
        ("%", 2**20, 3, 2),
        ("*", "ab", 3, 6),
        ("*", 3, "ab", 6),
        ("*", ["ab"], 2, 16),
        ("*", "", 5, 0),
        ("*", "ab", -2, 0),
        ("*", "ab", 0, 0),
        ("*", 2.5, 3, 0),
        ("+", "ab", "cde", 5),
        ("+", ["a"], ["b"], 14),
        ("+", "ab", 3, 0),
        ("-", "a", "b", 0),
        ("-", 1.5, 2.0, 0),
        ("*", 3, 2.5, 0),
    ],
)
def test_an_operator_is_sized_by_what_it_builds(operator, left, right, size):
    assert engine._binop_size(operator, left, right) == size


def test_a_repeated_or_concatenated_sequence_over_max_value_is_refused():
    assert engine._binop_size("*", "x", MAX_VALUE) == MAX_VALUE
    with pytest.raises(TemplateError, match=re.escape(LARGE)):
        engine._binop_size("*", "x", MAX_VALUE + 1)
    with pytest.raises(TemplateError, match=re.escape(LARGE)):
        engine._binop_size("+", "x" * MAX_VALUE, "y")


def test_an_argument_is_taken_by_position_then_by_name_then_the_default():
    assert engine._argument(("a", "b"), {"x": "c"}, 1, "x") == "b"
    assert engine._argument(("a",), {"x": "c"}, 1, "x") == "c"
    assert engine._argument(("a",), {}, 1, "x", "d") == "d"


@pytest.mark.parametrize(
    ("text", "old", "new", "count", "size"),
    [
        ("aXa", "a", "bbb", -1, 7),
        ("aXa", "", "b", -1, 7),
        ("aXa", "a", "bbb", 1, 5),
        ("aXa", "a", "bbb", 0, 3),
        ("aXa", "a", "bbb", None, 7),
        (["a"], "a", "bb", None, 15),
        ("aXa", 1, "b", -1, 3),
        ("aXa", "a", None, -1, 3),
        ("aaXa", "aa", "b", -1, 4),
        ("aXa", "a", "bbb", "2", 7),
    ],
)
def test_a_replace_is_sized_from_its_occurrences_and_the_growth_of_each(text, old, new, count, size):
    assert engine._replace_size(text, old, new, count) == size


def test_a_join_is_sized_as_its_items_plus_a_separator_between_each_two():
    assert engine._join_size("--", ["ab", "c"]) == 5
    assert engine._join_size("--", ["ab"]) == 2
    assert engine._join_size("--", []) == 0
    assert engine._join_size("-", [["a"]]) == 7


@pytest.mark.parametrize(
    ("target", "name", "args", "kwargs", "size"),
    [
        ("ab", "center", (5,), {}, 5),
        ("ab", "ljust", (5,), {}, 5),
        ("ab", "rjust", (5,), {}, 5),
        ("ab", "zfill", (5,), {}, 5),
        ("ab", "center", (1,), {}, 2),
        ("ab", "center", ("5",), {}, 2),
        ("a\tb", "expandtabs", (4,), {}, 7),
        ("a\tb", "expandtabs", (), {}, 11),
        ("a\tb", "expandtabs", (), {"tabsize": 4}, 7),
        (b"a\tb", "expandtabs", (4,), {}, 7),
        ("a\tb", "expandtabs", (0,), {}, 3),
        ("a\tb", "expandtabs", (-2,), {}, 3),
        ("a\tb", "expandtabs", ("4",), {}, 3),
        ("aXa", "replace", ("a", "bbb"), {}, 7),
        ("aXa", "replace", ("a", "bbb", 1), {}, 5),
        ("abc", "translate", ({97: "zzz"},), {}, 9),
        ("abc", "translate", ({97: 98},), {}, 3),
        ("abc", "translate", ({97: ""},), {}, 3),
        (b"abc", "translate", (None,), {}, 3),
        ("ab", "upper", (), {}, 6),
        ("", "upper", (), {}, 0),
    ],
)
def test_a_string_method_is_sized_by_what_it_can_build(target, name, args, kwargs, size):
    assert engine._string_method_size(target, name, args, kwargs) == size


def test_a_string_method_building_more_than_max_value_is_refused():
    too_long = "y" * (MAX_VALUE + 1)
    for target, name, args in (
        ("x", "ljust", (MAX_VALUE + 1,)),
        ("\t", "expandtabs", (MAX_VALUE + 1,)),
        ("x", "translate", ({120: too_long},)),
        ("x", "replace", ("x", too_long)),
    ):
        with pytest.raises(TemplateError, match=re.escape(LARGE)):
            engine._string_method_size(target, name, args, {})
    assert engine._string_method_size("x", "ljust", (MAX_VALUE,), {}) == MAX_VALUE


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        (True, True),
        (False, False),
        (2**MAX_INT_BITS - 1, True),
        ("x" * MAX_VALUE, True),
        (b"x" * MAX_VALUE, True),
        (["x"] * 10, True),
        (1.5, True),
        ({"a"}, True),
        (set(range(100_000)), True),
    ],
)
def test_a_call_result_within_the_limits_is_returned_as_it_is(value, kept):
    assert engine._bounded_result(value) is value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2**MAX_INT_BITS, f"Refused: the template would compute a number of more than {MAX_INT_BITS} bits."),
        ("x" * (MAX_VALUE + 1), LARGE),
        (b"x" * (MAX_VALUE + 1), LARGE),
        (["x" * MAX_VALUE], LARGE),
        (("x" * MAX_VALUE,), LARGE),
        ({"k": "x" * MAX_VALUE}, LARGE),
    ],
)
def test_a_call_result_over_the_limits_is_refused(value, message):
    with pytest.raises(TemplateError) as refused:
        engine._bounded_result(value)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("call", "args", "kwargs", "size"),
    [
        ((258).to_bytes, (2, "big"), {}, 2),
        ((258).to_bytes, (), {"length": 3, "byteorder": "big"}, 3),
        ((1).to_bytes, (), {}, 1),
        ((1).to_bytes, ("x",), {}, 0),
        ([1, 2, 3].copy, (), {}, 3),
        ((1, 2).count, (1,), {}, 2),
        ({"a": 1}.keys, (), {}, 1),
        ((5).bit_length, (), {}, 0),
        ((1.5).hex, (), {}, 0),
        ("ab".upper, (), {}, 6),
    ],
)
def test_a_call_of_an_allowlisted_method_is_sized_before_it_runs(call, args, kwargs, size):
    assert engine._environment._call_size(call, args, kwargs) == (size, args)


def test_a_join_call_is_sized_from_its_items_which_are_read_once():
    items = (part for part in ["ab", "c"])
    size, args = engine._environment._call_size("--".join, (items,), {})
    assert (size, args) == (5, (["ab", "c"],))


def test_to_bytes_longer_than_max_value_is_refused_before_it_runs():
    assert engine._environment._call_size((1).to_bytes, (MAX_VALUE, "big"), {})[0] == MAX_VALUE
    with pytest.raises(TemplateError, match=re.escape(LARGE)):
        engine._environment._call_size((1).to_bytes, (), {"length": MAX_VALUE + 1})
