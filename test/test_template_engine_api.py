"""The template engine's refusals as the API reports them: one 422 naming each problem on its field."""

TEMPLATES = "/api/v1/templates/"


def test_a_template_using_forbidden_constructs_is_422_naming_each_on_its_field(client, auth):
    user = auth.register()
    body = {"name": "Forbidden", "title": "{% extends 'base' %}", "body": "ok\n{% block b %}{% endblock %}{{ x|center }}"}
    response = client.post(TEMPLATES, json=body, headers=user.headers)
    assert response.status_code == 422, response.get_json()
    errors = response.get_json()["errors"]
    assert errors["title"] == ["line 1: template inheritance are not allowed in issue templates"]
    assert errors["body"][0] == "line 2: blocks are not allowed in issue templates"
    assert errors["body"][1].startswith("line 2: the filter 'center' is not allowed (allowed: capitalize, d, default,")
    assert set(response.get_json()) == {"code", "error", "message", "errors"}


def test_a_render_refused_by_a_limit_is_422_with_the_engines_message(client, auth):
    user = auth.register()
    source = "{{ range(n|int)|list|length }}"
    template = client.post(
        TEMPLATES, json={"name": "Range", "title": "t", "body": source, "variables": [{"name": "n"}]}, headers=user.headers
    )
    assert template.status_code == 201, template.get_json()
    rendered = client.post(
        f"{TEMPLATES}{template.get_json()['id']}/render", json={"variables": {"n": "10001"}}, headers=user.headers
    )
    assert rendered.status_code == 422, rendered.get_json()
    assert "range() is limited to 10000 items." in rendered.get_json()["message"]
    fine = client.post(f"{TEMPLATES}{template.get_json()['id']}/render", json={"variables": {"n": "10000"}}, headers=user.headers)
    assert fine.status_code == 200 and fine.get_json()["description"] == "10000", fine.get_json()
