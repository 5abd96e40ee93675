"""Markdown <-> Atlassian Document Format and Markdown <-> Jira wiki markup, and the converter's limits."""

import time

import pytest

from api.trackers.providers.jira_markup import (
    MAX_CHARS,
    TRUNCATED,
    MarkupTooLarge,
    adf_to_markdown,
    markdown_to_adf,
    markdown_to_wiki,
    wiki_to_markdown,
)

SAMPLES = [
    "Steps",
    "# Title\n\nA paragraph\nwith a second line",
    "Some **bold**, _italic_, `code` and a [link](https://example.com/a?b=c).",
    "- one\n- two\n- three",
    "1. first\n2. second",
    "```python\nprint('x')\n\nreturn 1\n```",
    "Hello @5b10ac8d82e05b22cc7d0001 and @bob, mail me at a@b.example",
    "## Heading\n\n- item with `code`\n\nAfter the list",
]


@pytest.mark.parametrize("markdown", SAMPLES)
def test_markdown_survives_a_round_trip_through_adf(markdown):
    assert adf_to_markdown(markdown_to_adf(markdown)) == markdown


@pytest.mark.parametrize("markdown", SAMPLES)
def test_markdown_survives_a_round_trip_through_wiki_markup(markdown):
    assert wiki_to_markdown(markdown_to_wiki(markdown)) == markdown


def test_adf_uses_the_documented_node_types():
    document = markdown_to_adf("# T\n\n**b** @alice [l](https://x.example)\n\n- i\n\n```sh\nls\n```")
    assert document["type"] == "doc" and document["version"] == 1
    heading, paragraph, bullets, code = document["content"]
    assert heading == {"type": "heading", "attrs": {"level": 1}, "content": [{"type": "text", "text": "T"}]}
    assert paragraph["content"] == [
        {"type": "text", "text": "b", "marks": [{"type": "strong"}]},
        {"type": "text", "text": " "},
        {"type": "mention", "attrs": {"id": "alice", "text": "@alice"}},
        {"type": "text", "text": " "},
        {"type": "text", "text": "l", "marks": [{"type": "link", "attrs": {"href": "https://x.example"}}]},
    ]
    assert bullets["content"][0] == {
        "type": "listItem",
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "i"}]}],
    }
    assert code == {"type": "codeBlock", "content": [{"type": "text", "text": "ls"}], "attrs": {"language": "sh"}}


def test_links_with_unsafe_schemes_stay_text():
    document = markdown_to_adf("[click](javascript:alert(1))")
    assert all("marks" not in node for node in document["content"][0]["content"])
    assert "[click|" not in markdown_to_wiki("[click](javascript:alert(1))")


def test_wiki_markup_from_jira_reads_as_markdown():
    wiki = (
        "h2. Report\n\n*bold* and {{mono}} by [~levbrouk] see [docs|https://example.com]\n\n# a\n# b\n"
        "## nested\n\n{code:java}\nint x = 1;\n{code}\n{noformat}\nraw *text*\n{noformat}"
    )
    assert wiki_to_markdown(wiki) == (
        "## Report\n\n**bold** and `mono` by @levbrouk see [docs](https://example.com)\n\n1. a\n2. b\n   1. nested\n\n"
        "```java\nint x = 1;\n```\n\n```\nraw *text*\n```"
    )


def test_unknown_adf_nodes_keep_their_text_and_malformed_values_do_not_fail():
    document = {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "panel", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "inside"}]}]},
            {"type": "paragraph", "content": [{"type": "emoji", "attrs": {"shortName": ":smile:"}}, "junk", 7]},
            {"type": "heading", "attrs": {"level": 99}, "content": [{"type": "text", "text": "h"}]},
        ],
    }
    assert adf_to_markdown(document) == "inside\n\n:smile:\n\n# h"
    assert adf_to_markdown(None) == "" and adf_to_markdown(["x"]) == "" and adf_to_markdown("plain") == "plain"
    assert wiki_to_markdown(None) == "" and wiki_to_markdown({"a": 1}) == ""


def test_deep_or_huge_adf_is_cut_at_the_limits_not_followed():
    deep = {"type": "text", "text": "bottom"}
    for _ in range(5000):  # far deeper than Python's recursion limit
        deep = {"type": "blockquote", "content": [deep]}
    text = adf_to_markdown({"type": "doc", "content": [deep]})
    assert text.endswith(TRUNCATED) and "bottom" not in text
    wide = {"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "x"}]}] * 100_000}
    text = adf_to_markdown(wide)
    assert text.endswith(TRUNCATED) and text.count("x") < 30_000


def test_text_beyond_the_limit_is_refused_on_the_way_in_and_cut_on_the_way_out():
    with pytest.raises(MarkupTooLarge):
        markdown_to_adf("x" * (MAX_CHARS + 1))
    with pytest.raises(MarkupTooLarge):
        markdown_to_wiki("x" * (MAX_CHARS + 1))
    assert wiki_to_markdown("y" * (MAX_CHARS + 10)).endswith(TRUNCATED)


def test_pathological_inputs_convert_in_linear_time():
    # Openers without closers: each must not rescan the rest of the text.
    started = time.monotonic()
    wiki_to_markdown("{code:x}" * 25_000)
    wiki_to_markdown("[a|http://b" * 18_000)
    markdown_to_adf("[a](bbbb" * 25_000)
    markdown_to_wiki("**a _b `c " * 20_000)
    assert time.monotonic() - started < 20  # quadratic behaviour takes minutes here
