#!/usr/bin/env python
"""End-to-end checks over HTTP against a running server (BASE_URL, default http://127.0.0.1:5000).

Replays the original job-offers README flow: register, login, create, list, edit, get, delete.
Usage: python tests.py            (local: start scripts/runserver.sh first)
       BASE_URL=https://staging.example.com python tests.py
"""

import os
import sys
import unittest
import uuid

import requests

BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/")
API = f"{BASE_URL}/api/v1"
TIMEOUT = float(os.environ.get("E2E_TIMEOUT", "10"))


class OriginalReadmeFlow(unittest.TestCase):
    """The curl flow of the original README, in order, on a fresh user."""

    @classmethod
    def setUpClass(cls):
        cls.http = requests.Session()
        cls.username = f"e2e-{uuid.uuid4().hex[:10]}"
        cls.password = f"pw-{uuid.uuid4().hex}"

    def call(self, method, path, expected, **kwargs):
        response = self.http.request(method, f"{API}{path}", timeout=TIMEOUT, **kwargs)
        self.assertEqual(response.status_code, expected, f"{method} {path}: {response.text[:300]}")
        self.assertTrue(response.headers["Content-Type"].startswith("application/json"))
        return response.json()

    def test_original_flow(self):
        credentials = {"username": self.username, "password": self.password}
        user = self.call("POST", "/users/register", 201, json=credentials)
        self.assertEqual(user["username"], self.username)

        login = self.call("POST", "/users/login", 200, json=credentials)
        self.assertEqual(login["id"], user["id"])
        headers = {"Authorization": f"JWT {login['token']}"}
        offers = f"/users/{user['id']}/offers/"

        offer = {"title": "Backend Engineer", "description": "Build a RESTful API", "skills_list": ["python", "flask", "DevOps"]}
        created = self.call("POST", offers, 201, json=offer, headers=headers)
        self.assertEqual({k: created[k] for k in offer}, offer)

        listing = self.call("GET", offers, 200, headers=headers)
        self.assertEqual(listing["count"], 1)
        self.assertEqual(listing["offers"][0]["id"], created["id"])

        edited = self.call("PUT", f"{offers}{created['id']}", 200, json={"title": "DevOps Engineer"}, headers=headers)
        self.assertEqual(edited["title"], "DevOps Engineer")
        self.assertGreaterEqual(edited["modification_date"], created["modification_date"])

        fetched = self.call("GET", f"{offers}{created['id']}", 200, headers=headers)
        self.assertEqual(fetched, edited)

        deleted = self.call("DELETE", f"{offers}{created['id']}", 200, headers=headers)
        self.assertEqual(deleted, {"message": f"offer deleted {created['id']}"})
        self.assertEqual(self.call("GET", offers, 200, headers=headers), {"offers": [], "count": 0, "next_cursor": None})

    def test_bad_login_and_missing_token_are_401(self):
        self.call("POST", "/users/login", 401, json={"username": self.username, "password": "wrong-password"})
        self.call("GET", "/users/me", 401)

    def test_probes_and_docs_are_served(self):
        self.assertEqual(self.http.get(f"{BASE_URL}/healthz", timeout=TIMEOUT).status_code, 200)
        self.assertEqual(self.http.get(f"{BASE_URL}/readyz", timeout=TIMEOUT).status_code, 200)
        self.assertIn("swagger", self.http.get(f"{API}/docs", timeout=TIMEOUT).text.lower())
        self.assertIn("/users/login", self.http.get(f"{API}/swagger.json", timeout=TIMEOUT).json()["paths"])


if __name__ == "__main__":
    print(f"End-to-end checks against {BASE_URL}", file=sys.stderr)
    unittest.main(verbosity=2)
