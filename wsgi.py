"""WSGI entry point for uwsgi: `uwsgi --ini uwsgi.ini` loads `wsgi:application`."""

from api import create_app

application = create_app()
