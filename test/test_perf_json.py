"""Responses written by orjson (api/jsonfast.py) are the documents the json module would write."""

import datetime as dt
import decimal
import json
import uuid

from flask import jsonify

from api.jsonfast import FastJSONProvider, dumps_bytes, output_json


def test_resources_and_jsonify_are_written_by_the_fast_writers(app, client, auth):
    assert isinstance(app.json, FastJSONProvider)
    user = auth.register("writer")
    response = client.post(f"/api/v1/users/{user.id}/offers/", json={"title": "Développeur ✓"}, headers=user.headers)
    assert response.status_code == 201
    # The json module would have escaped these characters (\u00e9); orjson writes them as UTF-8.
    assert "Développeur ✓".encode() in response.data
    assert response.get_json()["title"] == "Développeur ✓"
    assert output_json.__module__ == "api.jsonfast"


def test_fast_writer_gives_the_json_modules_document_for_plain_values():
    value = {"b": [1, 2.5, None, True, "ünï ✓", {"nested": []}], "a": -7, "c": 'line\nbreak "quoted"'}
    assert json.loads(dumps_bytes(value)) == json.loads(json.dumps(value))
    assert (
        dumps_bytes(value, sort_keys=True)
        == json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    )


def test_values_orjson_cannot_write_fall_back_to_the_json_module():
    huge = {"n": 2**70, 1: "int key"}
    assert json.loads(dumps_bytes(huge)) == {"n": 2**70, "1": "int key"}
    deep = current = []
    for _ in range(300):  # deeper than orjson writes; still far below the json module's recursion limit
        current.append([])
        current = current[0]
    assert dumps_bytes(deep) == json.dumps(deep).encode()


def test_jsonify_keeps_flasks_conversions_and_sorted_keys(app):
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    token = uuid.UUID(int=5)
    with app.test_request_context():
        response = jsonify(z=1, a=when, m=decimal.Decimal("1.50"), u=token)
    body = response.get_data()
    assert body.endswith(b"\n")
    assert json.loads(body) == {"z": 1, "a": "Fri, 02 Jan 2026 03:04:05 GMT", "m": "1.50", "u": str(token)}
    assert list(json.loads(body)) == ["a", "m", "u", "z"]


def test_an_api_response_is_valid_json_ending_in_a_newline(client):
    response = client.get("/api/v1/")
    assert response.status_code == 200
    assert response.data.endswith(b"\n")
    assert response.get_json()["docs"].endswith("/docs")
    assert response.headers["Content-Type"] == "application/json"


def test_a_body_nested_too_deep_is_still_refused_by_the_bounded_parser(client, auth):
    body = "[" * 200 + "]" * 200
    response = client.post("/api/v1/users/register", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "malformed_json"
