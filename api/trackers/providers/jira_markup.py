"""Markdown <-> Jira rich text: Atlassian Document Format (Cloud, REST v3) and wiki markup (Data Center, webhooks).

Covers what issue text mostly is: paragraphs, headings, bullet and numbered lists, code blocks, inline code, bold,
italic, links and mentions (`@id` in Markdown, an ADF mention node, `[~id]` in wiki markup). The text is user input
and, coming back, provider data: both directions stop at MAX_CHARS / MAX_NODES / MAX_DEPTH instead of growing with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

MAX_CHARS = 200_000  # Markdown or wiki text converted at most (longer input is refused by `to_*`, cut by `from_*`)
MAX_NODES = 20_000  # ADF nodes read or written
MAX_DEPTH = 24  # ADF nesting read; deeper content is dropped
TRUNCATED = "\n\n[…]"


class MarkupTooLarge(ValueError):
    """The text is beyond the converter's limits."""


class _Budget:
    def __init__(self, nodes: int = MAX_NODES) -> None:
        self.left = nodes

    def take(self) -> bool:
        self.left -= 1
        return self.left >= 0


# ---- inline Markdown ----------------------------------------------------------------------------

_INLINE = re.compile(
    r"(?P<code>`[^`\n]+`)"
    r"|(?P<link>\[(?P<link_text>[^\]\n]{1,500})\]\((?P<link_url>[^()\[\]\s]{1,2000})\))"
    r"|(?P<strong>\*\*(?P<strong_text>[^*\n]{1,2000}?)\*\*)"
    r"|(?P<em>(?<![\w*])[*_](?P<em_text>[^*_\n]{1,2000}?)[*_](?![\w*]))"
    r"|(?P<mention>(?<![\w@.])@(?P<mention_id>[A-Za-z0-9](?:[A-Za-z0-9._:-]{0,126}[A-Za-z0-9])?))"
)
_SAFE_URL = re.compile(r"^(https?://|mailto:|/|#)", re.IGNORECASE)


def _inline_tokens(text: str) -> Iterator[tuple[str, str, str | None]]:
    """(kind, text, extra) tokens of one line of Markdown."""
    position = 0
    for match in _INLINE.finditer(text):
        if match.start() > position:
            yield "text", text[position : match.start()], None
        kind = next(name for name in ("code", "link", "strong", "em", "mention") if match.group(name))
        if kind == "code":
            yield "code", match.group("code")[1:-1], None
        elif kind == "link":
            url = match.group("link_url")
            if _SAFE_URL.match(url):
                yield "link", match.group("link_text"), url
            else:
                yield "text", match.group(0), None
        elif kind == "strong":
            yield "strong", match.group("strong_text"), None
        elif kind == "em":
            yield "em", match.group("em_text"), None
        else:
            yield "mention", match.group("mention_id"), None
        position = match.end()
    if position < len(text):
        yield "text", text[position:], None


# ---- Markdown blocks ----------------------------------------------------------------------------

_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_BULLET = re.compile(r"^\s{0,3}[-*+]\s+(.*)$")
_ORDERED = re.compile(r"^\s{0,3}\d{1,9}[.)]\s+(.*)$")
_FENCE = re.compile(r"^\s{0,3}```\s*([\w+-]{0,30})\s*$")


def _run(lines: list[str], index: int, pattern: re.Pattern[str]) -> tuple[list[str], int]:
    """The lines from `index` on that match `pattern`, their first groups, and the index after them."""
    items = []
    while index < len(lines) and (match := pattern.match(lines[index])):
        items.append(match.group(1))
        index += 1
    return items, index


def _starts_block(line: str) -> bool:
    return bool(not line.strip() or _HEADING.match(line) or _FENCE.match(line) or _BULLET.match(line) or _ORDERED.match(line))


def _blocks(markdown: str) -> Iterator[tuple[str, Any]]:
    """(kind, payload) blocks: paragraph [lines], heading (level, text), bullet/ordered [items], code (lang, text)."""
    if len(markdown) > MAX_CHARS:
        raise MarkupTooLarge(f"The text is longer than {MAX_CHARS} characters.")
    lines = markdown.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        if fence := _FENCE.match(line):
            end = next((at for at in range(index + 1, len(lines)) if _FENCE.match(lines[at])), len(lines))
            yield "code", (fence.group(1), "\n".join(lines[index + 1 : end]))
            index = end + 1
        elif not line.strip():
            index += 1
        elif heading := _HEADING.match(line):
            yield "heading", (len(heading.group(1)), heading.group(2).strip())
            index += 1
        elif _BULLET.match(line) or _ORDERED.match(line):
            kind, pattern = ("bullet", _BULLET) if _BULLET.match(line) else ("ordered", _ORDERED)
            items, index = _run(lines, index, pattern)
            yield kind, items
        else:
            end = next((at for at in range(index + 1, len(lines)) if _starts_block(lines[at])), len(lines))
            yield "paragraph", lines[index:end]
            index = end


# ---- Markdown -> ADF ----------------------------------------------------------------------------


def _adf_inline(text: str) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    for kind, value, extra in _inline_tokens(text):
        if kind == "text":
            nodes.append({"type": "text", "text": value})
        elif kind == "code":
            nodes.append({"type": "text", "text": value, "marks": [{"type": "code"}]})
        elif kind == "strong":
            nodes.append({"type": "text", "text": value, "marks": [{"type": "strong"}]})
        elif kind == "em":
            nodes.append({"type": "text", "text": value, "marks": [{"type": "em"}]})
        elif kind == "link":
            nodes.append({"type": "text", "text": value, "marks": [{"type": "link", "attrs": {"href": extra}}]})
        else:
            nodes.append({"type": "mention", "attrs": {"id": value, "text": f"@{value}"}})
    return nodes


def _adf_lines(lines: list[str]) -> list[dict[str, Any]]:
    content = []
    for number, line in enumerate(lines):
        if number:
            content.append({"type": "hardBreak"})
        content += _adf_inline(line)
    return content


def markdown_to_adf(markdown: str) -> dict:
    """An ADF document (version 1) for Markdown text."""
    content: list[dict[str, Any]] = []
    for kind, payload in _blocks(markdown or ""):
        if len(content) > MAX_NODES:
            raise MarkupTooLarge("The text has too many blocks.")
        if kind == "paragraph":
            content.append({"type": "paragraph", "content": _adf_lines(payload)})
        elif kind == "heading":
            content.append({"type": "heading", "attrs": {"level": payload[0]}, "content": _adf_inline(payload[1])})
        elif kind == "code":
            node: dict[str, Any] = {"type": "codeBlock", "content": [{"type": "text", "text": payload[1]}] if payload[1] else []}
            if payload[0]:
                node["attrs"] = {"language": payload[0]}
            content.append(node)
        else:
            content.append(
                {
                    "type": "bulletList" if kind == "bullet" else "orderedList",
                    "content": [
                        {"type": "listItem", "content": [{"type": "paragraph", "content": _adf_inline(item)}]} for item in payload
                    ],
                }
            )
    return {"type": "doc", "version": 1, "content": content}


# ---- ADF -> Markdown ----------------------------------------------------------------------------


def _md_text(node: dict) -> str:
    text = str(node.get("text") or "")
    marks = {mark.get("type"): mark for mark in node.get("marks") or [] if isinstance(mark, dict)}
    if "code" in marks:
        return f"`{text}`"
    if "strong" in marks:
        text = f"**{text}**"
    if "em" in marks:
        text = f"_{text}_"
    if "link" in marks:
        href = str((marks["link"].get("attrs") or {}).get("href") or "")
        text = f"[{text}]({href})" if href else text
    return text


def _md_inline(nodes: object, budget: _Budget, depth: int) -> str:
    parts = []
    for node in nodes if isinstance(nodes, list) else []:
        if depth > MAX_DEPTH:
            budget.left = -1  # deeper content is dropped, and the text says it was cut
            break
        if not isinstance(node, dict) or not budget.take():
            break
        kind = node.get("type")
        attrs = node["attrs"] if isinstance(node.get("attrs"), dict) else {}
        if kind == "text":
            parts.append(_md_text(node))
        elif kind == "hardBreak":
            parts.append("\n")
        elif kind == "mention":
            parts.append(f"@{attrs.get('id') or str(attrs.get('text') or '').lstrip('@')}")
        elif kind in ("emoji", "status", "date", "inlineCard"):
            parts.append(str(attrs.get("text") or attrs.get("shortName") or attrs.get("url") or ""))
        else:
            parts.append(_md_inline(node.get("content"), budget, depth + 1))
    return "".join(parts)


def _md_list(kind: str, content: object, budget: _Budget, depth: int) -> str:
    lines = []
    for number, item in enumerate(content if isinstance(content, list) else [], start=1):
        if not isinstance(item, dict) or not budget.take():
            break
        text = _md_blocks(item.get("content"), budget, depth + 2).replace("\n\n", "\n").replace("\n", "\n   ")
        lines.append(f"{'-' if kind == 'bulletList' else f'{number}.'} {text}")
    return "\n".join(lines)


def _md_block(node: dict, budget: _Budget, depth: int) -> str | None:
    """Markdown for one ADF block node; None for a node that shows nothing."""
    kind = node.get("type")
    attrs = node["attrs"] if isinstance(node.get("attrs"), dict) else {}
    content = node.get("content")
    if kind == "paragraph":
        return _md_inline(content, budget, depth + 1)
    if kind == "heading":
        level = attrs["level"] if isinstance(attrs.get("level"), int) and 1 <= attrs["level"] <= 6 else 1
        return "#" * level + " " + _md_inline(content, budget, depth + 1)
    if kind == "codeBlock":
        language = str(attrs.get("language") or "")
        return f"```{language}\n{_md_inline(content, budget, depth + 1)}\n```"
    if kind in ("bulletList", "orderedList"):
        return _md_list(kind, content, budget, depth)
    if kind == "blockquote":
        return "\n".join("> " + line for line in _md_blocks(content, budget, depth + 1).split("\n"))
    if kind == "rule":
        return "---"
    return _md_blocks(content, budget, depth + 1) if isinstance(content, list) else None


def _md_blocks(nodes: object, budget: _Budget, depth: int) -> str:
    blocks = []
    for node in nodes if isinstance(nodes, list) else []:
        if depth > MAX_DEPTH:
            budget.left = -1  # deeper content is dropped, and the text says it was cut
            break
        if not isinstance(node, dict) or not budget.take():
            break
        blocks.append(_md_block(node, budget, depth))
    return "\n\n".join(block for block in blocks if block is not None)


def adf_to_markdown(document: object) -> str:
    """Markdown for an ADF document; a plain string is returned as it is, anything else as ""."""
    if isinstance(document, str):
        return document[:MAX_CHARS]
    if not isinstance(document, dict):
        return ""
    budget = _Budget()
    text = _md_blocks(document.get("content"), budget, 1)
    return text[:MAX_CHARS] + (TRUNCATED if budget.left < 0 or len(text) > MAX_CHARS else "")


# ---- Markdown <-> wiki markup -------------------------------------------------------------------


def _wiki_inline(text: str) -> str:
    parts = []
    for kind, value, extra in _inline_tokens(text):
        if kind == "text":
            parts.append(value)
        elif kind == "code":
            parts.append("{{" + value + "}}")
        elif kind == "strong":
            parts.append(f"*{value}*")
        elif kind == "em":
            parts.append(f"_{value}_")
        elif kind == "link":
            parts.append(f"[{value}|{extra}]")
        else:
            parts.append(f"[~{value}]")
    return "".join(parts)


def markdown_to_wiki(markdown: str) -> str:
    """Jira wiki markup for Markdown text."""
    blocks = []
    for kind, payload in _blocks(markdown or ""):
        if kind == "paragraph":
            blocks.append("\n".join(_wiki_inline(line) for line in payload))
        elif kind == "heading":
            blocks.append(f"h{payload[0]}. {_wiki_inline(payload[1])}")
        elif kind == "code":
            blocks.append(("{code:" + payload[0] + "}" if payload[0] else "{code}") + f"\n{payload[1]}\n" + "{code}")
        else:
            marker = "*" if kind == "bullet" else "#"
            blocks.append("\n".join(f"{marker} {_wiki_inline(item)}" for item in payload))
    return "\n\n".join(blocks)


_WIKI_CODE_OPEN = re.compile(r"(?<!\{)\{(code|noformat)(?::([\w+-]{0,30})[^}\n]{0,200})?\}(?!\})\n?")
_WIKI_INLINE = re.compile(
    r"(?P<mono>\{\{(?P<mono_text>[^}\n]{1,2000}?)\}\})"
    r"|(?P<mention>\[~(?:accountid:)?(?P<mention_id>[^\]\s|]{1,128})\])"
    r"|(?P<link>\[(?:(?P<link_text>[^\]|\n]{1,500})\|)?(?P<link_url>(?:https?://|mailto:)[^\[\]\s]{1,2000})\])"
    r"|(?P<strong>(?<![\w*])\*(?P<strong_text>[^*\n]{1,2000}?)\*(?![\w*]))"
)
_WIKI_HEADING = re.compile(r"^h([1-6])\.\s+(.*)$")
_WIKI_ITEM = re.compile(r"^([*#-]{1,6})\s+(.*)$")


def _md_from_wiki_inline(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group("mono"):
            return f"`{match.group('mono_text')}`"
        if match.group("mention"):
            return f"@{match.group('mention_id')}"
        if match.group("link"):
            url = match.group("link_url")
            return f"[{match.group('link_text') or url}]({url})"
        return f"**{match.group('strong_text')}**"

    return _WIKI_INLINE.sub(replace, text)


def wiki_to_markdown(wiki: object) -> str:
    """Markdown for Jira wiki markup (anything but a string is "")."""
    if not isinstance(wiki, str):
        return ""
    truncated = len(wiki) > MAX_CHARS
    wiki = wiki[:MAX_CHARS].replace("\r\n", "\n").replace("\r", "\n")
    pieces: list[tuple[str, Any]] = []
    position = 0
    while (match := _WIKI_CODE_OPEN.search(wiki, position)) is not None:
        # str.find, not a lazy regex: an opener without its closer must not make the scan quadratic.
        closer = "{" + match.group(1) + "}"
        end = wiki.find(closer, match.end())
        if end < 0:
            break
        pieces.append(("text", wiki[position : match.start()]))
        pieces.append(("code", (match.group(2) or "", wiki[match.end() : end].removesuffix("\n"))))
        position = end + len(closer)
    pieces.append(("text", wiki[position:]))
    out = []
    for kind, value in pieces:
        if kind == "code":
            out.append(f"\n```{value[0]}\n{value[1]}\n```\n")
            continue
        lines: list[str] = []
        numbers: dict[int, int] = {}
        for line in value.split("\n"):
            heading = _WIKI_HEADING.match(line)
            item = _WIKI_ITEM.match(line)
            if item and len(set(item.group(1))) == 1:
                depth = len(item.group(1)) - 1
                numbers = {level: number for level, number in numbers.items() if level <= depth}
                numbers[depth] = numbers.get(depth, 0) + 1
                marker = f"{numbers[depth]}." if item.group(1)[-1] == "#" else "-"
                lines.append("   " * depth + f"{marker} {_md_from_wiki_inline(item.group(2))}")
                continue
            numbers = {}
            if heading:
                lines.append("#" * int(heading.group(1)) + " " + _md_from_wiki_inline(heading.group(2)))
            else:
                lines.append(_md_from_wiki_inline(line))
        out.append("\n".join(lines))
    text = "".join(out).strip("\n")
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text + (TRUNCATED if truncated else "")
