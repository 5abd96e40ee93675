"""The floor: a bare Flask JSON hello, served with the same uwsgi settings as the API."""

from flask import Flask, jsonify

application = Flask(__name__)


@application.get("/hello")
def hello():
    return jsonify(hello="world")
