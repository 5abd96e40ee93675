from sqlalchemy import func, select

from api.models.offers import Offer
from api.models.users import User


def test_create_user_command_creates_a_user_who_can_log_in(app, client):
    result = app.test_cli_runner().invoke(args=["create-user", "operator"], input="password-123\npassword-123\n")
    assert result.exit_code == 0, result.output
    response = client.post("/api/v1/users/login", json={"username": "operator", "password": "password-123"})
    assert response.status_code == 200


def test_create_user_command_rejects_invalid_input(app):
    result = app.test_cli_runner().invoke(args=["create-user", "x"], input="short\nshort\n")
    assert result.exit_code != 0
    assert "username" in result.output and "password" in result.output


def test_demo_data_is_idempotent(app, db):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["demo-data"]).exit_code == 0
    assert "already present" in runner.invoke(args=["demo-data"]).output
    assert db.session.scalar(select(func.count()).select_from(User)) == 1
    assert db.session.scalar(select(func.count()).select_from(Offer)) == 3
