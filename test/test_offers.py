import time

import pytest

from api.models.offers import Offer

OFFER = {"title": "Backend Engineer", "description": "Build a RESTful API", "skills_list": ["python", "flask", "DevOps"]}


def offers_url(user_id, offer_id=None):
    return f"/api/v1/users/{user_id}/offers/" + ("" if offer_id is None else str(offer_id))


def create(client, user, body=OFFER):
    response = client.post(offers_url(user.id), json=body, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_returns_201_with_the_original_offer_shape(client, auth):
    user = auth.register()
    body = create(client, user)
    assert {"id", "title", "description", "skills_list", "creation_date", "modification_date"} <= set(body)
    assert body["title"] == OFFER["title"] and body["skills_list"] == OFFER["skills_list"]
    assert body["creation_date"].endswith("+00:00") and body["user_id"] == user.id


def test_empty_list_is_200_with_zero_count(client, auth):
    user = auth.register()
    response = client.get(offers_url(user.id), headers=user.headers)
    assert response.status_code == 200
    assert response.get_json() == {"offers": [], "count": 0, "next_cursor": None}


def test_list_paginates_with_cursor_and_keeps_total_count(client, auth):
    user = auth.register()
    ids = [create(client, user, {**OFFER, "title": f"Offer {n}"})["id"] for n in range(5)]
    seen, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = client.get(offers_url(user.id), query_string=query, headers=user.headers).get_json()
        assert body["count"] == 5 and len(body["offers"]) <= 2
        seen += [offer["id"] for offer in body["offers"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ids


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"cursor": "!!garbage"}, {"cursor": "WzF"}])
def test_bad_pagination_parameters_are_400(client, auth, query):
    user = auth.register()
    response = client.get(offers_url(user.id), query_string=query, headers=user.headers)
    assert response.status_code == 400
    assert set(response.get_json()["errors"]) <= {"limit", "cursor"}


def test_get_single_offer(client, auth):
    user = auth.register()
    offer = create(client, user)
    response = client.get(offers_url(user.id, offer["id"]), headers=user.headers)
    assert response.status_code == 200 and response.get_json() == offer


def test_put_is_partial_and_moves_modification_date_forward(client, auth):
    user = auth.register()
    offer = create(client, user)
    time.sleep(0.01)
    response = client.put(offers_url(user.id, offer["id"]), json={"title": "DevOps Engineer"}, headers=user.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["title"] == "DevOps Engineer"
    assert body["description"] == offer["description"] and body["skills_list"] == offer["skills_list"]
    assert body["modification_date"] > offer["modification_date"]
    assert body["creation_date"] == offer["creation_date"]


def test_put_with_no_fields_is_400(client, auth):
    user = auth.register()
    offer = create(client, user)
    response = client.put(offers_url(user.id, offer["id"]), json={}, headers=user.headers)
    assert response.status_code == 400


def test_delete_returns_the_original_message_and_removes_the_offer(client, auth, db):
    user = auth.register()
    offer = create(client, user)
    response = client.delete(offers_url(user.id, offer["id"]), headers=user.headers)
    assert response.status_code == 200
    assert response.get_json() == {"message": f"offer deleted {offer['id']}"}
    assert db.session.get(Offer, offer["id"]) is None
    assert client.get(offers_url(user.id, offer["id"]), headers=user.headers).status_code == 404


def test_unknown_user_or_offer_is_404(client, auth):
    user = auth.register()
    offer = create(client, user)
    other = auth.register()
    assert client.get(offers_url(999999), headers=user.headers).status_code == 404
    assert client.post(offers_url(999999), json=OFFER, headers=user.headers).status_code == 404
    assert client.get(offers_url(user.id, 999999), headers=user.headers).status_code == 404
    # An offer id that exists, but under another user, is not found under that user.
    assert client.get(offers_url(other.id, offer["id"]), headers=user.headers).status_code == 404


def test_any_authenticated_user_can_read_any_users_offers(client, auth):
    owner, reader = auth.register(), auth.register()
    offer = create(client, owner)
    assert client.get(offers_url(owner.id), headers=reader.headers).get_json()["count"] == 1
    assert client.get(offers_url(owner.id, offer["id"]), headers=reader.headers).status_code == 200


def test_offers_require_a_token(client, auth):
    user = auth.register()
    assert client.get(offers_url(user.id)).status_code == 401
    assert client.post(offers_url(user.id), json=OFFER).status_code == 401


@pytest.mark.parametrize(
    ("method", "with_offer", "body"),
    [("post", False, OFFER), ("put", True, {"title": "Hijacked"}), ("delete", True, None)],
)
def test_other_user_cannot_write_offers_and_nothing_changes(client, auth, db, method, with_offer, body):
    owner, intruder = auth.register(), auth.register()
    offer = create(client, owner)
    url = offers_url(owner.id, offer["id"] if with_offer else None)
    kwargs = {"headers": intruder.headers, **({"json": body} if body is not None else {})}
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden"
    listing = client.get(offers_url(owner.id), headers=owner.headers).get_json()
    assert listing["count"] == 1 and listing["offers"][0] == offer


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"description": "no title"}, "title"),
        ({**OFFER, "title": ""}, "title"),
        ({**OFFER, "title": "   "}, "title"),
        ({**OFFER, "title": "x" * 121}, "title"),
        ({**OFFER, "description": "x" * 5001}, "description"),
        ({**OFFER, "skills_list": ["s"] * 51}, "skills_list"),
        ({**OFFER, "skills_list": ["x" * 51]}, "skills_list"),
        ({**OFFER, "skills_list": [""]}, "skills_list"),
        ({**OFFER, "skills_list": "python"}, "skills_list"),
        ({**OFFER, "skills_list": [1, 2]}, "skills_list"),
        ({**OFFER, "title": 42}, "title"),
        ({**OFFER, "title": "nul\x00byte"}, "title"),
        ({**OFFER, "salary": 100}, "salary"),
        ({**OFFER, "id": 7}, "id"),
    ],
)
def test_invalid_offer_is_400_with_field_messages_never_500(client, auth, body, field):
    user = auth.register()
    response = client.post(offers_url(user.id), json=body, headers=user.headers)
    assert response.status_code == 400, response.get_json()
    assert field in response.get_json()["errors"]


def test_title_longer_than_32_characters_is_accepted(client, auth):
    # The original API answered 500 for titles over 32 characters.
    user = auth.register()
    body = create(client, user, {**OFFER, "title": "T" * 120})
    assert body["title"] == "T" * 120


def test_limits_are_inclusive(client, auth):
    user = auth.register()
    body = {"title": "x" * 120, "description": "d" * 5000, "skills_list": ["s" * 50] * 50}
    assert client.post(offers_url(user.id), json=body, headers=user.headers).status_code == 201


def test_search_matches_skill_case_insensitively_and_text_in_title_or_description(client, auth):
    alice, bob = auth.register(), auth.register()
    create(client, alice, {"title": "Python Engineer", "skills_list": ["Python"]})
    create(client, bob, {"title": "Data role", "description": "an engineer for data", "skills_list": ["python", "sql"]})
    create(client, bob, {"title": "Go Engineer", "skills_list": ["go"]})
    headers = alice.headers
    by_skill = client.get("/api/v1/offers", query_string={"skill": "PYTHON"}, headers=headers).get_json()
    assert by_skill["count"] == 2
    both = client.get("/api/v1/offers", query_string={"skill": "python", "q": "ENGINEER"}, headers=headers).get_json()
    assert both["count"] == 2
    go = client.get("/api/v1/offers", query_string={"q": "go engineer"}, headers=headers).get_json()
    assert [offer["title"] for offer in go["offers"]] == ["Go Engineer"]


def test_search_treats_like_wildcards_literally(client, auth):
    user = auth.register()
    create(client, user, {"title": "100% remote"})
    create(client, user, {"title": "Office job"})
    body = client.get("/api/v1/offers", query_string={"q": "%"}, headers=user.headers).get_json()
    assert [offer["title"] for offer in body["offers"]] == ["100% remote"]


def test_search_paginates(client, auth):
    user = auth.register()
    for n in range(3):
        create(client, user, {"title": f"Job {n}", "skills_list": ["rust"]})
    first = client.get("/api/v1/offers", query_string={"skill": "rust", "limit": 2}, headers=user.headers).get_json()
    second = client.get(
        "/api/v1/offers", query_string={"skill": "rust", "limit": 2, "cursor": first["next_cursor"]}, headers=user.headers
    ).get_json()
    assert len(first["offers"]) == 2 and len(second["offers"]) == 1 and second["next_cursor"] is None
    assert first["count"] == second["count"] == 3


def test_unknown_query_parameters_are_400_like_unknown_body_fields(client, auth):
    user = auth.register()
    response = client.get(offers_url(user.id), query_string={"limt": 5}, headers=user.headers)
    assert response.status_code == 400 and "limt" in response.get_json()["errors"]
