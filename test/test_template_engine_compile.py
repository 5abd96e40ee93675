"""The template engine's compile cache: compiled templates are kept up to a total weight of 400,000, not one more."""

from api import template_engine as engine

CACHE_BOUND = 400_000  # the documented bound, not read from the cache so that a changed bound shows


def test_the_compile_cache_keeps_a_template_weighing_its_bound_and_not_one_character_more():
    # A template weighs its length plus 100; one that alone fills the cache is kept, one character more never is.
    fits = "a" * (CACHE_BOUND - 100)
    assert engine._compile(fits) is engine._compile(fits)
    assert list(engine._templates.entries) == [fits]
    too_heavy = "b" * (CACHE_BOUND - 99)
    assert engine._compile(too_heavy) is not engine._compile(too_heavy)
    assert too_heavy not in engine._templates.entries
