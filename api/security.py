"""Security headers on every response, CORS for configured frontend origins, client addresses behind proxies."""

from flask import request
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

CORS_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"]
EXPOSED_HEADERS = [
    "X-Request-ID",
    "Retry-After",
    "Idempotent-Replayed",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
]
# The Swagger UI page runs its own scripts and styles; everything else the API serves is data.
DOC_PATHS = ("/api/v1/docs", "/swaggerui/")


def init_security(app):
    proxies = app.config.get("PROXY_COUNT", 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    origins = app.config.get("CORS_ORIGINS") or []
    if origins:
        CORS(
            app,
            resources={r"/api/*": {"origins": origins}},
            allow_headers=CORS_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            max_age=600,
            supports_credentials=False,
        )

    @app.after_request
    def _security_headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "no-referrer")
        if not request.path.startswith(DOC_PATHS):
            headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
        if request.path.startswith("/api/") and not request.path.startswith(DOC_PATHS):
            # Tokens and per-user data must not be kept by browsers or shared caches.
            headers["Cache-Control"] = "no-store"
        return response
