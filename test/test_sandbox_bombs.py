"""Template sandbox bombs: every operator, method, filter and format string is sized before it runs.

Each bomb below builds gigabytes or runs for minutes on an unguarded Jinja sandbox. They must be refused by the
guard meant for them (the message says which), quickly and without the process growing: the memory check runs the
bombs in a fresh interpreter, whose peak RSS says what any of them allocated, under an address-space limit so that
a broken guard fails the test instead of the machine.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from api import template_engine

TEMPLATES = "/api/v1/templates/"
ROOT = Path(__file__).resolve().parents[1]


def _nested_lists_compared(levels=6):
    """`p6 == q6` over ten-way nested list literals with equal, distinct leaves: one C call of 10**6 * 30000 steps."""
    source = "{% set p0 = [1] * 30000 %}{% set q0 = [1] * 30000 %}"
    for level in range(1, levels + 1):
        for name in "pq":
            source += f"{{% set {name}{level} = [{', '.join([f'{name}{level - 1}'] * 10)}] %}}"
    return source + f"{{{{ p{levels} == q{levels} }}}}"


SIZE = "would build a value larger than"
FORMATTED = "would build a formatted string"
WORK = "characters in all"
BITS = "bits"
SLOW = "longer than"
BOMBS = [
    ("{{ ((9 ** 64) ** 64) ** 64 }}", BITS),
    ("{{ 9 ** 99999999 }}", BITS),
    ("{% set n = 2 ** 8000 %}{{ (n * n)|length }}", BITS),
    ("{{ (('f' * 60000)|int(base=16) * 2)|string|length }}", BITS),
    ("{{ ('%999999999d' % 1)|length }}", FORMATTED),
    ("{{ ('%*d' % (999999999, 1))|length }}", FORMATTED),
    ("{{ ('%.999999999f' % 1.5)|length }}", FORMATTED),
    ("{{ (('%(a)s' * 5000) % {'a': 'x' * 60000})|length }}", FORMATTED),
    ("{{ '{:>999999999}'.format(1)|length }}", FORMATTED),
    ("{{ ('{0}' * 5000).format('x' * 60000)|length }}", FORMATTED),
    ("{{ ('{a}' * 5000).format_map({'a': 'x' * 60000})|length }}", FORMATTED),
    ("{% set a = 'x' * 200000 %}{% set b = a ~ a ~ a ~ a ~ a %}{{ (b ~ b)|length }}", SIZE),
    ("{{ 'x'.ljust(999999999)|length }}", SIZE),
    ("{{ 'x'.rjust(999999999)|length }}", SIZE),
    ("{{ 'x'.center(999999999)|length }}", SIZE),
    ("{{ '1'.zfill(999999999)|length }}", SIZE),
    ("{{ ('x' * 60000).replace('', 'y' * 100000)|length }}", SIZE),
    ("{{ ('\t' * 60000).expandtabs(999999)|length }}", SIZE),
    ("{{ ('a' * 50000).translate({97: 'x' * 200000})|length }}", SIZE),
    ("{{ ('y' * 200000).join(['x'] * 30000)|length }}", SIZE),
    ("{{ (1).to_bytes(999999999, 'big')|length }}", SIZE),
    ("{{ ('x' * 60000) * 60000 }}", SIZE),
    ("{{ (['x' * 60000] * 60000)|length }}", SIZE),
    ("{{ (['x'] * 30000)|join('y' * 200000)|length }}", SIZE),
    ("{{ ('x' * 200000)|replace('x', 'y' * 200000)|length }}", SIZE),
    ("{{ 'ab\ncd'|indent(999999999)|length }}", SIZE),
    ("{% set s = 'x' * 200000 %}{% set l = [s, s, s, s, s, s, s, s, s, s] %}{{ (l|join)|length }}", SIZE),
    (_nested_lists_compared(), SIZE),
    ("{% set s = 'x' * 60000 %}{% set x %}{% for i in range(10000) %}{{ s }}{% endfor %}{% endset %}{{ x|length }}", SIZE),
    ("{% set a = 'x' * 250000 %}" + "".join(f"{{% set a{i} = a ~ '{i}' %}}" for i in range(40)) + "{{ a1|length }}", WORK),
    ("{% set s = 'x' * 60000 %}{% for i in s %}{% for j in s %}{% endfor %}{% endfor %}", SLOW),
    ("{% for i in range(10000) %}{% for j in range(10000) %}{{ '' }}{% endfor %}{% endfor %}", SLOW),
]


def _ids():
    return [source[:40] for source, _ in BOMBS]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("source", "guard"), BOMBS, ids=_ids())
def test_each_bomb_is_refused_by_its_guard_through_the_api(client, auth, source, guard):
    user = auth.register()
    template = client.post(TEMPLATES, json={"name": "Bomb", "title": "t", "body": source}, headers=user.headers)
    assert template.status_code == 201, template.get_json()
    response = client.post(f"{TEMPLATES}{template.get_json()['id']}/render", json={}, headers=user.headers)
    assert response.status_code == 422, response.get_json()
    assert guard in response.get_json()["message"], response.get_json()


MEASURE = textwrap.dedent("""
    import json, resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, (1024 ** 3, 1024 ** 3))  # a broken guard fails, the machine lives
    from api import template_engine
    template_engine.render("{{ x|upper ~ '%s' % 1 ~ '{}'.format(2) }}{% for i in range(3) %}{% endfor %}", {"x": "warm"})
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    before, results = peak(), []
    for source in json.loads(sys.stdin.read()):
        started = time.monotonic()
        try:
            template_engine.render(source, {})
            message = "rendered"
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
        results.append({"seconds": time.monotonic() - started, "message": message})
    print(json.dumps({"growth_kib": peak() - before, "results": results}))
""")


def measure_in_a_fresh_interpreter(script, inputs):
    """Runs `script` in a new Python process with `inputs` as JSON on stdin: the JSON report it prints."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(inputs),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.mark.timeout(120)
def test_bombs_finish_within_two_seconds_each_and_the_process_grows_by_less_than_64_mib():
    report = measure_in_a_fresh_interpreter(MEASURE, [source for source, _ in BOMBS])
    for (source, guard), result in zip(BOMBS, report["results"], strict=True):
        assert result["message"].startswith("TemplateError") and guard in result["message"], (source, result)
        assert result["seconds"] < 2.0, (source, result)
    assert report["growth_kib"] < 64 * 1024, report["growth_kib"]


@pytest.mark.parametrize(
    ("source", "variables", "expected"),
    [
        (
            "{{ name|upper }} {{ name ~ '!' }} {{ '%s-%05d' % (name, 3) }} {{ '{}:{:>4}'.format(name, 7) }}",
            {"name": "bob"},
            "BOB bob! bob-00003 bob:   7",
        ),
        ("{% for i in range(3) %}{{ loop.index }}{{ loop.cycle('a', 'b') }}{% endfor %}", {}, "1a2b3a"),
        ("{{ [3, 1, 2]|sort|join(',') }} {{ {'a': 1}.get('a') }} {% set x %}ab{% endset %}{{ x * 2 }}", {}, "1,2,3 1 abab"),
        (
            "{% for k, v in {'k': 'v'}.items() %}{{ k }}={{ v }}{% endfor %} "
            "{{ 2 ** 10 }} {{ 7 // 2 }} {{ 'a b'.split()|length }}",
            {},
            "k=v 1024 3 2",
        ),
        (
            "{{ t.ljust(4, '.') }}|{{ t.center(5, '*') }}|{{ '5'.zfill(3) }}|"
            "{{ 'a\tb'.expandtabs(2) }}|{{ t|replace('T', 'X') }}",
            {"t": "T"},
            "T...|**T**|005|a b|X",
        ),
        (
            "{% filter upper %}hi{% endfilter %} {{ 'x' * 3 }} {{ ['a'] + ['b'] }} {{ ('a',) * 2 }} {{ 'ab'|list|join('-') }}",
            {},
            "HI xxx ['a', 'b'] ('a', 'a') a-b",
        ),
    ],
)
def test_ordinary_templates_still_render(source, variables, expected):
    assert template_engine.render(source, variables) == expected


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("{{ component|attr('upper') }}", "attr"),
        ("{{ ['a']|map('upper')|list }}", "map"),
        ("{{ 'x'|format }}", "format"),
        ("{% filter center(9) %}x{% endfilter %}", "center"),
        ("{{ 3 is divisibleby 3 }}", "divisibleby"),
    ],
)
def test_a_filter_or_test_outside_the_allowlist_is_422_naming_it(client, auth, source, name):
    user = auth.register()
    response = client.post(
        TEMPLATES, json={"name": "F", "title": "t", "body": source, "variables": [{"name": "component"}]}, headers=user.headers
    )
    assert response.status_code == 422, response.get_json()
    assert f"'{name}' is not allowed" in " ".join(response.get_json()["errors"]["body"])


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ {}.fromkeys(range(10), 'x') }}", "calling dict.fromkeys() is not allowed"),
        ("{{ ''.maketrans('a', 'b') }}", "calling maketrans() is not allowed"),
        ("{{ (1).from_bytes(b, 'big') }}", "calling int.from_bytes() is not allowed"),
        ("{{ [].__len__() }}", "attribute '__len__' of 'list' object is unsafe"),
        ("{{ self.x() }}", "Undefined value"),
    ],
)
def test_calls_outside_the_allowlist_are_refused(source, message):
    with pytest.raises(template_engine.TemplateError) as refused:
        template_engine.render(source, {"b": "x"})
    assert message in str(refused.value)


def test_renders_in_one_shared_budget_add_up():
    # Each render alone stays under MAX_WORK; an automation run shares one allowance, so many of them together do not.
    source = "{{ ('x' * 250000)|length }}"
    for _ in range(30):
        assert template_engine.render(source, {}) == "250000"
    rendered = 0
    with template_engine.shared_budget(), pytest.raises(template_engine.TemplateError, match="in all"):  # noqa: PT012
        for _ in range(30):
            template_engine.render(source, {})
            rendered += 1
    assert rendered == template_engine.MAX_WORK // 250000


def test_a_templates_title_and_body_share_one_budget(client, auth):
    # 2 M characters built in the title and 2.25 M in the body: each alone is allowed, together they are not.
    user = auth.register()
    build = "{{ ('x' * 250000)|length }}"
    template = client.post(TEMPLATES, json={"name": "Heavy", "title": build * 8, "body": build * 9}, headers=user.headers)
    assert template.status_code == 201, template.get_json()
    for source in (build * 8, build * 9):
        template_engine.render(source, {})
    response = client.post(f"{TEMPLATES}{template.get_json()['id']}/render", json={}, headers=user.headers)
    assert response.status_code == 422 and WORK in response.get_json()["message"], response.get_json()


def test_the_compiled_template_cache_is_bounded_by_size():
    for index in range(60):  # 60 templates of 19,000 characters: about 90 MB if all were kept
        template_engine.render(f"{{# {index} #}}" + "{{ a ~ 'b' }}" * 1500, {"a": "x"})
    assert template_engine._templates.weight <= template_engine._templates.limit
    assert len(template_engine._templates.entries) < 60
