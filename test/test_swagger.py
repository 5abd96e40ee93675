import re

from flask_restx import schemas

from api.schemas.offers import OfferSchema


def spec(client):
    response = client.get("/api/v1/swagger.json")
    assert response.status_code == 200
    return response.get_json()


def test_swagger_spec_is_valid_swagger_2(client):
    schemas.validate(spec(client))


def test_every_api_route_is_in_the_spec(app, client):
    documented = set(spec(client)["paths"])
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.endpoint not in ("api.specs", "api.doc", "api.root"):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule[len("/api/v1") :])
            assert path in documented, f"{rule.rule} is not documented"


def test_jwt_security_definition_drives_the_authorize_button(client):
    document = spec(client)
    assert document["securityDefinitions"]["jwt"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": document["securityDefinitions"]["jwt"]["description"],
    }
    assert document["paths"]["/users/me"]["get"]["security"] == [{"jwt": []}]
    assert "security" not in document["paths"]["/users/login"]["post"]


def test_models_are_derived_from_the_marshmallow_schemas(client):
    offer = spec(client)["definitions"]["Offer"]
    title_field = OfferSchema().fields["title"]
    max_length = next(v.max for v in title_field.validators if hasattr(v, "max"))
    assert offer["properties"]["title"]["maxLength"] == max_length == 120
    assert set(offer["properties"]) == set(OfferSchema().fields)
    assert offer["required"] == ["title"]
    update = spec(client)["definitions"]["OfferUpdate"]
    assert "required" not in update


def test_every_operation_documents_its_success_and_error_responses(client):
    for path, operations in spec(client)["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            codes = set(operation["responses"])
            assert any(code.startswith("2") for code in codes), f"{method} {path}"
            if operation.get("security"):
                assert "401" in codes, f"{method} {path} lacks 401"


def test_swagger_ui_is_served_with_local_assets_only(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "swagger-ui" in html
    external = re.findall(r'(?:src|href)="(https?://[^"]+)"', html)
    assert external == []
    for asset in re.findall(r'(?:src|href)="(/swaggerui/[^"]+)"', html):
        assert client.get(asset).status_code == 200, asset
