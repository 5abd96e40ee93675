"""FLASK_APP entry point (`flask --app app db upgrade`, `flask --app app run`)."""

from api import create_app

app = create_app()
