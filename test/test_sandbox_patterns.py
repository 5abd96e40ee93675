"""User regular expressions: compile bombs refused before compiling, everywhere a pattern is saved or used."""

import textwrap

import pytest

from api import patterns
from test.test_sandbox_bombs import measure_in_a_fresh_interpreter

TOO_LARGE = "too large"
# `regex` unrolls counted repeats when compiling: the first took 800 MB, the second exhausts memory.
COMPILE_BOMBS = [
    r"(?:a{3000}){1000}",
    r"(?:a{65535}){65535}",
    r"(?:(?:(?:a{40}){40}){40}){40}",
    r"a{65535}",
    r"(?:\d{1,3000}){1,1000}",
    "(?x)#[\n(?:a{3000}){1000}]",
    r"[[](?:a{3000}){1000}]",
    r"(x|y{3000}){1000}",
]


@pytest.mark.parametrize("pattern", COMPILE_BOMBS)
def test_compile_bombs_are_refused_without_compiling(pattern):
    assert TOO_LARGE in patterns.problem(pattern)
    with pytest.raises(patterns.PatternError, match=TOO_LARGE):
        patterns.search(pattern, "aaa")


@pytest.mark.parametrize(
    "pattern",
    [
        r"\d+\.\d+",
        r"^[A-Z]{2,10}-\d{1,6}$",
        r"(?i)crash|panic",
        r"\p{L}+ \w{3}",
        r"(?:ab){20}",
        r"(?V1)[[a-z]--[aeiou]]+",
        r"(?x) a \  b  # comment",
    ],
)
def test_ordinary_patterns_compile_and_match(pattern):
    assert patterns.problem(pattern) is None
    assert patterns.search(pattern, "x") in (True, False)


def test_invalid_patterns_are_named_not_raised():
    assert patterns.problem("(").startswith("Not a valid regular expression")
    assert patterns.problem("a{2,1}").startswith("Not a valid regular expression")


MEASURE = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (1024 ** 3, 1024 ** 3))  # a broken guard fails, the machine lives
    from api import patterns
    patterns.problem("warm{2}")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    messages = [patterns.problem(pattern) for pattern in json.loads(sys.stdin.read())]
    print(json.dumps({"growth_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before, "messages": messages}))
""")


@pytest.mark.timeout(120)
def test_checking_compile_bombs_grows_the_process_by_less_than_16_mib():
    report = measure_in_a_fresh_interpreter(MEASURE, COMPILE_BOMBS)
    assert all(message and TOO_LARGE in message for message in report["messages"]), report
    assert report["growth_kib"] < 16 * 1024, report


def test_a_template_variable_pattern_bomb_is_422_at_save(client, auth):
    user = auth.register()
    response = client.post(
        "/api/v1/templates/",
        json={"name": "t", "title": "{{ v }}", "variables": [{"name": "v", "pattern": COMPILE_BOMBS[0]}]},
        headers=user.headers,
    )
    assert response.status_code == 422
    assert TOO_LARGE in response.get_json()["errors"]["variables"]["0"]["pattern"][0]


@pytest.mark.parametrize("field", ["title_regex", "body_regex"])
def test_an_automation_condition_bomb_is_422_at_save(client, auth, field):
    user = auth.register()
    response = client.post(
        "/api/v1/automations/",
        json={
            "name": "r",
            "event_types": ["issue.created"],
            "conditions": {field: COMPILE_BOMBS[1]},
            "actions": [{"type": "notify"}],
        },
        headers=user.headers,
    )
    assert response.status_code == 422
    assert TOO_LARGE in response.get_json()["errors"]["conditions"][field][0]


def test_a_bomb_stored_before_the_check_existed_is_refused_when_used(client, auth, db):
    # Rows saved by an older version were never checked: using them must not compile them either.
    from api.models.issue_templates import IssueTemplate

    user = auth.register()
    template = client.post(
        "/api/v1/templates/",
        json={"name": "old", "title": "{{ v }}", "variables": [{"name": "v", "pattern": "a+"}]},
        headers=user.headers,
    ).get_json()
    row = db.session.get(IssueTemplate, template["id"])
    row.variables = [{**row.variables[0], "pattern": COMPILE_BOMBS[0]}]
    db.session.commit()
    response = client.post(f"/api/v1/templates/{template['id']}/render", json={"variables": {"v": "a"}}, headers=user.headers)
    assert response.status_code == 422
    assert TOO_LARGE in response.get_json()["errors"]["variables"]["v"][0]


def test_the_compiled_pattern_cache_is_bounded_by_weight_not_count():
    for index in range(60):  # 60 patterns of about 8,000 expansion each: far more than the cache keeps
        assert patterns.problem(f"(?:(?:a{{20}}){{20}}){{20}}x{{{index + 1}}}") is None
    assert 0 < patterns._cache.weight <= patterns.CACHE_WEIGHT
    assert len(patterns._cache.entries) < 60
