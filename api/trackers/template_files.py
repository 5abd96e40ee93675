"""Parsers for the issue-template files repositories keep, used by providers' parse_issue_template_file."""

import re

import yaml

FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)(.*)\Z", re.DOTALL)


def _split(value: object) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value if item.strip()]
    raise ValueError("must be a comma-separated string or a list of strings")


def parse_front_matter(text: str) -> dict:
    """A Markdown template with YAML front matter (name, about, title, labels, assignees), as GitHub and Gitea keep them."""
    match = FRONT_MATTER.match(text)
    if not match:
        raise ValueError("no front matter (--- name/about/title/labels ---)")
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise ValueError(f"front matter is not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(meta, dict):
        raise ValueError("front matter is not a mapping")
    name = meta.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("front matter has no name")
    title = meta.get("title") or ""
    if not isinstance(title, str):
        raise ValueError("title must be a string")
    try:
        labels, assignees = _split(meta.get("labels")), _split(meta.get("assignees"))
    except ValueError as exc:
        raise ValueError(f"labels/assignees {exc}") from None
    about = meta["about"] if isinstance(meta.get("about"), str) else ""
    return {
        "name": name.strip()[:100],
        "description": about[:500],
        "title": title,
        "body": match.group(2),
        "labels": labels,
        "assignees": assignees,
    }


def parse_plain_markdown(filename: str, text: str) -> dict:
    """A plain Markdown template named by its file (GitLab's description templates)."""
    return {"name": filename.rsplit(".", 1)[0][:100], "description": "", "title": "", "body": text, "labels": [], "assignees": []}
