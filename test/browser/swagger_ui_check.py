#!/usr/bin/env python
"""QA's view, in a real browser: headless Chromium drives the Swagger UI as a person would.

Run: scripts/check-browser.sh (installs Chromium, chromedriver and Selenium, then runs this).
Direct: .venv/bin/python test/browser/swagger_ui_check.py [--base-url http://127.0.0.1:5000]
Without --base-url it serves the API itself under uwsgi on a throwaway embedded PostgreSQL.
Not part of the pytest suite (no test_ prefix): it needs a browser and a real server.
"""
# ruff: noqa: T201 - a command-line check: its report is what it prints.

import argparse
import base64
import contextlib
import json
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import requests
from cryptography.fernet import Fernet
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from bench.harness import ROOT
from bench.harness.clients import register_and_login
from bench.harness.db import database
from bench.harness.server import app_env, migrate, uwsgi

ARTIFACTS = ROOT / "artifacts"
SCREENSHOT = ARTIFACTS / "swagger-ui.png"
FAILURE_SCREENSHOT = ARTIFACTS / "swagger-ui-failure.png"
SERVER_LOG = ARTIFACTS / "swagger-ui-server.log"
WAIT_SECONDS = 20
# --disable-dev-shm-usage: containers often give /dev/shm only 64 MB, too little for Chromium's renderer.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
]
# Inline content that is never fetched from anywhere.
LOCAL_SCHEMES = ("data", "blob", "about")


class CheckFailed(Exception):
    pass


@contextlib.contextmanager
def served_api():
    # Always a fresh embedded PostgreSQL: this check creates users and must not touch a DATABASE_URL from the shell.
    with database(fresh=True) as database_url:
        env = app_env(database_url, SECRET_KEY=secrets.token_urlsafe(48), ENCRYPTION_KEYS=Fernet.generate_key().decode())
        migrate(env)
        with uwsgi(env, log_path=SERVER_LOG) as (base_url, _pid):
            yield base_url


@contextlib.contextmanager
def chromium():
    profile = tempfile.mkdtemp(prefix="tg-browser-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    # An explicit driver path keeps Selenium Manager from looking for (and downloading) a driver.
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = None
    try:
        driver = webdriver.Chrome(options=options, service=service)
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        if driver:
            driver.quit()
        else:  # interrupted while starting: the driver process may already run
            service.stop()
        shutil.rmtree(profile, ignore_errors=True)


def full_page_screenshot(driver, path):
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
    path.write_bytes(base64.b64decode(shot["data"]))


def requested_urls(driver):
    """Every URL the page asked for: the DevTools network log plus the Resource Timing entries."""
    urls = set(driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)"))
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.add(message["params"]["request"]["url"])
    return urls


class SwaggerUiCheck:
    def __init__(self, driver, base_url):
        self.driver, self.base_url = driver, base_url
        self.wait = WebDriverWait(driver, WAIT_SECONDS)
        self.results = []

    def step(self, name, action):
        started = time.monotonic()
        try:
            detail = action()
        except TimeoutException as error:
            raise CheckFailed(f"{name}: timed out after {WAIT_SECONDS}s waiting for the UI") from error
        self.results.append((name, detail, time.monotonic() - started))
        print(f"  ok  {name}: {detail} ({time.monotonic() - started:.1f}s)")

    def find(self, css, root=None):
        root = root or self.driver
        return self.wait.until(lambda _: root.find_element(By.CSS_SELECTOR, css))

    def click(self, css, root=None):
        element = self.find(css, root)
        self.wait.until(lambda _: element.is_displayed() and element.is_enabled())
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()
        return element

    def run(self, username, token):
        self.step("Swagger UI renders", self.renders)
        self.step("every namespace is listed", self.namespaces)
        self.step("authorize with the JWT", lambda: self.authorize(token))
        self.step("GET /users/me from 'Try it out'", lambda: self.users_me(username))
        self.step("no asset from outside the server", self.same_origin_only)

    def renders(self):
        # Chromium's own start page (chrome:// resources) is in the network log too: start counting from a blank page.
        self.driver.get("about:blank")
        self.driver.get_log("performance")
        self.driver.get(self.base_url + "/api/v1/docs")
        title = self.find(".swagger-ui .info .title").text
        self.find(".swagger-ui .opblock-tag-section")
        return repr(title.splitlines()[0])

    def namespaces(self):
        spec = requests.get(self.base_url + "/api/v1/swagger.json", timeout=10).json()
        wanted = [tag["name"] for tag in spec.get("tags", [])]
        if not wanted:
            raise CheckFailed("the spec lists no tags")
        shown = {element.get_attribute("data-tag") for element in self.driver.find_elements(By.CSS_SELECTOR, "h3.opblock-tag")}
        missing = [name for name in wanted if name not in shown]
        if missing:
            raise CheckFailed(f"namespaces missing from the page: {missing} (shown: {sorted(shown)})")
        return ", ".join(wanted)

    def authorize(self, token):
        self.click(".auth-wrapper button.authorize")
        modal = self.find(".modal-ux")
        field = self.find("input", modal)
        field.send_keys(f"Bearer {token}")
        self.click("button.authorize", modal)
        # Once authorized the dialog offers Logout instead of the input.
        self.wait.until(lambda _: not modal.find_elements(By.CSS_SELECTOR, "input"))
        self.click("button.btn-done", modal)
        self.wait.until(ec.invisibility_of_element_located((By.CSS_SELECTOR, ".modal-ux")))
        self.find(".auth-wrapper button.authorize.locked")
        return "lock closed"

    def users_me(self, username):
        tag = self.find('h3.opblock-tag[data-tag="users"]')
        if tag.get_attribute("data-is-open") != "true":
            self.click('h3.opblock-tag[data-tag="users"]')
        operation = self.find('.opblock-get:has([data-path="/users/me"])')
        self.click(".opblock-summary-path", operation)
        self.click("button.try-out__btn", operation)
        self.click("button.execute", operation)
        live = self.find(".live-responses-table", operation)
        status = self.find(".response .response-col_status", live).text.strip()
        request_url = self.find(".request-url pre", operation).text.strip()
        body_text = self.find(".response .response-col_description .highlight-code pre", live).text
        if status != "200":
            raise CheckFailed(f"GET /users/me answered {status} in the UI: {body_text[:300]}")
        if request_url != self.base_url + "/api/v1/users/me":
            raise CheckFailed(f"the UI called {request_url}, not this server")
        body = json.loads(body_text)
        if body.get("username") != username:
            raise CheckFailed(f"response body shows {body.get('username')!r}, expected {username!r}")
        return f"200, username {username!r} in the response body"

    def same_origin_only(self):
        origin = urlsplit(self.base_url)[:2]
        urls = requested_urls(self.driver)
        foreign = sorted(url for url in urls if urlsplit(url).scheme not in LOCAL_SCHEMES and urlsplit(url)[:2] != origin)
        if foreign:
            raise CheckFailed(f"fetched from outside {self.base_url}: {foreign}")
        return f"{len(urls)} URLs, all on {self.base_url}"


def check(base_url):
    username = f"qa-browser-{secrets.token_hex(4)}"
    _, token = register_and_login(base_url, username, password=secrets.token_urlsafe(16))
    with chromium() as driver:
        ui = SwaggerUiCheck(driver, base_url)
        try:
            ui.run(username, token)
        except BaseException:
            with contextlib.suppress(WebDriverException):
                full_page_screenshot(driver, FAILURE_SCREENSHOT)
                print(f"screenshot of the failure: {FAILURE_SCREENSHOT.relative_to(ROOT)}", file=sys.stderr)
            raise
        full_page_screenshot(driver, SCREENSHOT)
    return ui.results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="check a server that is already running instead of starting one")
    args = parser.parse_args()
    # SIGTERM (CI cancelling the job) unwinds like Ctrl-C, so the server, database and browser are cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ARTIFACTS.mkdir(exist_ok=True)
    for stale in (SCREENSHOT, FAILURE_SCREENSHOT):
        stale.unlink(missing_ok=True)
    started = time.monotonic()
    try:
        if args.base_url:
            results = check(args.base_url.rstrip("/"))
        else:
            with served_api() as base_url:
                print(f"serving the API at {base_url} ({time.monotonic() - started:.1f}s)")
                results = check(base_url)
    except (CheckFailed, RuntimeError, WebDriverException, requests.RequestException) as error:
        sys.exit(f"FAILED browser check: {error}")
    except subprocess.CalledProcessError as error:
        sys.exit(f"FAILED browser check: {error}\n{(error.stderr or b'').decode(errors='replace')[-2000:]}")
    names = "; ".join(name for name, _detail, _seconds in results)
    print(
        f"passed: {len(results)} browser checks in {time.monotonic() - started:.1f}s ({names}); "
        f"screenshot {SCREENSHOT.relative_to(ROOT)}"
    )


if __name__ == "__main__":
    main()
