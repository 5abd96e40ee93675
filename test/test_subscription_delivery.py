"""One outbound attempt, rule by rule: what is sent, how each answer or failure is recorded, when the next attempt is
due (the schedule, a receiver's Retry-After within its bounds), and the JSON an automation's notify payload becomes."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from api.services import subscriptions as subscriptions_service
from api.services.events import jsonable
from api.services.subscriptions import _connection_error, _next_delay, _post, _retry_after, sign
from test.conftest import read_unlocked
from test.receiver import Receiver

SCHEDULE = (30, 120, 600)
SECRET = "s3cret-for-one-attempt"


@pytest.fixture
def receiver(app):
    server = Receiver().start()
    with app.app_context():
        yield server
    server.stop()


def _attempt(receiver, secret=SECRET, body=b'{"id":"d-1"}'):
    return _post(url=receiver.url, secret=secret, delivery_id="d-1", event_type="issue.created", body=body)


# ---- Retry-After and the schedule ---------------------------------------------------------------------------------


def test_a_retry_after_in_seconds_is_read_with_surrounding_blanks():
    assert _retry_after("5") == 5.0
    assert _retry_after(" 7 ") == 7.0
    assert _retry_after("0") == 0.0


def test_a_retry_after_date_is_the_seconds_until_then_never_negative():
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC).timestamp()
    assert _retry_after("Tue, 01 Jan 2030 12:01:00 GMT", now=now) == 60.0
    assert _retry_after("Tue, 01 Jan 2030 11:00:00 GMT", now=now) == 0.0


def test_a_retry_after_date_without_a_zone_is_read_as_utc_whatever_the_servers_zone(monkeypatch):
    import time

    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC).timestamp()
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert _retry_after("Tue, 01 Jan 2030 12:01:00 -0000", now=now) == 60.0  # "-0000": a naive datetime
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5"])
def test_an_absent_or_unreadable_retry_after_is_none(value):
    assert _retry_after(value) is None


def test_without_retry_after_the_schedule_gives_the_delay_of_each_attempt():
    assert [_next_delay(SCHEDULE, attempt, None) for attempt in (1, 2, 3)] == [30, 120, 600]


def test_a_receivers_retry_after_is_kept_within_the_schedules_shortest_and_longest_delay():
    assert _next_delay(SCHEDULE, 1, 300.0) == 300.0
    assert _next_delay(SCHEDULE, 3, 5.0) == 30
    assert _next_delay(SCHEDULE, 1, 10_000.0) == 600
    assert _next_delay((600, 30, 120), 1, 5.0) == 30  # the bounds are the smallest and largest, wherever they stand


# ---- one attempt --------------------------------------------------------------------------------------------------


def test_an_attempt_sends_the_documented_headers_and_a_signature_of_the_timestamped_body(receiver):
    outcome = _attempt(receiver)
    assert outcome.succeeded and outcome.status_code == 200 and outcome.error is None and outcome.retry_after is None
    sent = receiver.requests[-1]
    assert sent.method == "POST" and sent.body == b'{"id":"d-1"}'
    assert sent.headers["Content-Type"] == "application/json" and sent.headers["User-Agent"] == "TicketGateway/1.0"
    assert sent.headers["X-Gateway-Event"] == "issue.created" and sent.headers["X-Gateway-Delivery"] == "d-1"
    timestamp = int(sent.headers["X-Gateway-Timestamp"])
    assert sent.headers["X-Gateway-Signature"] == sign(secret=SECRET, timestamp=timestamp, body=sent.body)
    assert outcome.attempted_at.tzinfo is not None and outcome.duration_ms >= 0


@pytest.mark.parametrize("status", [201, 299])
def test_any_2xx_is_a_success(receiver, status):
    receiver.fail_next(1, status=status)
    outcome = _attempt(receiver)
    assert outcome.succeeded and outcome.status_code == status and outcome.error is None


@pytest.mark.parametrize("status", [300, 302, 399])
def test_a_3xx_is_a_failed_attempt_saying_redirects_are_not_followed(receiver, status):
    receiver.fail_next(1, status=status)
    outcome = _attempt(receiver)
    assert not outcome.succeeded and outcome.status_code == status
    assert outcome.error == f"Answered {status}; redirects are not followed."
    assert [r.path for r in receiver.requests] == ["/hook"]


@pytest.mark.parametrize("status", [400, 404, 500, 503])
def test_an_error_status_is_a_failed_attempt_naming_the_status(receiver, status):
    receiver.fail_next(1, status=status)
    outcome = _attempt(receiver)
    assert not outcome.succeeded and outcome.status_code == status and outcome.error == f"Answered {status}."
    assert outcome.retry_after is None  # no Retry-After sent


def test_a_secret_that_cannot_be_decrypted_sends_nothing_and_says_why(receiver):
    outcome = _attempt(receiver, secret=None)
    assert outcome.error == "The subscription's secret cannot be decrypted with the configured ENCRYPTION_KEYS."
    assert outcome.status_code is None and not outcome.succeeded and receiver.requests == []


def test_a_timed_out_attempt_names_the_configured_timeout(receiver, make_app):
    receiver.hang(3)
    with make_app(OUTBOUND_TIMEOUT_SECONDS=0.5).app_context():
        outcome = _attempt(receiver)
    receiver.hang(0)
    assert outcome.error == "Timed out after 0.5 s." and outcome.status_code is None


def test_a_connection_error_keeps_only_the_operating_systems_reason():
    refused = (
        "HTTPConnectionPool(host='x', port=1): Max retries exceeded with url: /hook?token=abc "
        "(Caused by NewConnectionError('<conn>: Failed to establish a new connection: [Errno 111] Connection refused'))"
    )
    assert _connection_error(refused) == "Could not connect: Connection refused."
    assert _connection_error("... [Errno -2] Name or service not known)") == "Could not connect: Name or service not known."
    assert _connection_error("no errno here /hook?token=abc") == "Could not connect to the receiver."


def test_a_notify_payload_with_times_and_other_objects_becomes_json(app):
    class Named:
        def __str__(self):
            return "named"

    payload = {"at": datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC), "who": Named(), "n": 1}
    assert jsonable(payload) == {"at": "2030-01-02T03:04:05+00:00", "who": "named", "n": 1}  # what notify stores


def test_without_a_configured_schedule_failed_attempts_wait_the_documented_delays(make_app):
    # docs/WEBHOOKS-OUTBOUND.md: 30 s, 2 min, 10 min, 30 min, 1 h, 3 h, 6 h, 12 h (about 22.7 h in all).
    with make_app(OUTBOUND_RETRY_SCHEDULE=None).app_context():
        schedule = subscriptions_service._retry_schedule()
    assert [_next_delay(schedule, attempt, None) for attempt in range(1, 9)] == [
        30,
        120,
        600,
        1800,
        3600,
        3 * 3600,
        6 * 3600,
        12 * 3600,
    ]
    assert len(schedule) == 8


def test_each_thread_keeps_one_outbound_session():
    import threading

    mine = subscriptions_service._session()
    assert subscriptions_service._session() is mine
    theirs = []
    worker = threading.Thread(target=lambda: theirs.append(subscriptions_service._session()))
    worker.start()
    worker.join()
    assert theirs[0] is not mine


def test_an_attempt_records_how_long_the_receiver_took_in_milliseconds(receiver):
    receiver.hang(2)
    try:
        outcome = _attempt(receiver)
    finally:
        receiver.hang(0)
    assert outcome.succeeded and 1900 <= outcome.duration_ms < 120_000


def test_only_the_status_line_and_headers_of_an_answer_are_read_never_its_body(app, make_app):
    import threading

    from werkzeug.serving import make_server
    from werkzeug.wrappers import Response

    release = threading.Event()

    def slow_body(environ, start_response):
        def chunks():
            yield b"accepted"
            release.wait(5)  # a body that trickles on: reading it would hit the 1 s read timeout
            yield b"... and more"

        return Response(chunks(), status=200)(environ, start_response)

    server = make_server("127.0.0.1", 0, slow_body, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with make_app(OUTBOUND_TIMEOUT_SECONDS=1.0).app_context():
            outcome = _post(
                url=f"http://127.0.0.1:{server.server_port}/hook",
                secret=SECRET,
                delivery_id="d-2",
                event_type="issue.created",
                body=b"{}",
            )
    finally:
        release.set()
        server.shutdown()
    assert outcome.succeeded and outcome.status_code == 200 and outcome.error is None


def _pending_delivery(client, auth, db, url):
    user = auth.register()
    response = client.post("/api/v1/subscriptions/", json={"url": url, "events": ["*"], "secret": SECRET}, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    subscriptions_service.notify(session=db.session, owner_id=user.id, event_type="automation.notify", payload={})
    db.session.commit()
    return db.session.execute(text("SELECT id FROM outbound_deliveries")).scalar_one()


def test_a_retry_due_at_once_is_queued_unscheduled_and_a_later_one_scheduled(client, auth, db, receiver, make_app):
    delivery_id = _pending_delivery(client, auth, db, receiver.url)
    receiver.fail_next(2, status=500)
    with make_app(OUTBOUND_RETRY_SCHEDULE=[0, 1]).app_context():
        for attempt in (1, 2):
            assert subscriptions_service.send_delivery(session=db.session, delivery_id=delivery_id, attempt=attempt) == "pending"
    jobs = db.session.execute(
        text("SELECT args->>'attempt', scheduled_at FROM procrastinate_jobs WHERE args->>'attempt' IN ('2', '3') ORDER BY id")
    ).all()
    assert [(attempt, scheduled_at is None) for attempt, scheduled_at in jobs] == [("2", True), ("3", False)]


def test_a_job_for_an_attempt_already_made_or_a_delivery_gone_does_nothing(client, auth, db, receiver):
    delivery_id = _pending_delivery(client, auth, db, receiver.url)
    assert subscriptions_service.send_delivery(session=db.session, delivery_id=delivery_id, attempt=1) == "succeeded"
    assert subscriptions_service.send_delivery(session=db.session, delivery_id=delivery_id, attempt=1) is None
    assert subscriptions_service.send_delivery(session=db.session, delivery_id=delivery_id) is None  # succeeded: not due
    assert subscriptions_service.send_delivery(session=db.session, delivery_id="no-such-delivery") is None
    assert len(receiver.requests) == 1


def test_a_job_without_an_attempt_number_makes_the_next_attempt(client, auth, db, receiver):
    delivery_id = _pending_delivery(client, auth, db, receiver.url)
    receiver.fail_next(1, status=500)
    assert subscriptions_service.send_delivery(session=db.session, delivery_id=delivery_id) == "pending"
    assert subscriptions_service.send_delivery(session=db.session, delivery_id=delivery_id) == "succeeded"
    assert db.session.execute(text("SELECT attempts FROM outbound_deliveries")).scalar_one() == 2


def test_a_delivery_of_a_disabled_subscription_fails_without_being_sent(client, auth, db, receiver):
    delivery_id = _pending_delivery(client, auth, db, receiver.url)
    db.session.execute(text("UPDATE subscriptions SET enabled = false"))
    db.session.commit()
    assert subscriptions_service.send_delivery(session=db.session, delivery_id=delivery_id) == "failed"
    assert receiver.requests == []


def test_no_transaction_stays_open_while_the_receiver_is_called(client, auth, db, receiver, app):
    import threading
    import time

    delivery_id = _pending_delivery(client, auth, db, receiver.url)
    db.session.rollback()
    receiver.hang(3)
    results = []

    def send():
        with app.app_context():
            results.append(subscriptions_service.send_delivery(session=db.session, delivery_id=delivery_id))
            db.session.remove()

    worker = threading.Thread(target=send)
    worker.start()
    for _ in range(200):  # the receiver records the request, then sits on it
        if receiver.requests:
            break
        time.sleep(0.01)
    with db.engine.connect() as other:
        open_transactions = other.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
            )
        ).scalar()
    worker.join(30)
    receiver.hang(0)
    assert receiver.requests and results == ["succeeded"]
    assert open_transactions == 0


def test_a_secret_encrypted_with_a_retired_key_fails_the_attempt_unsent(client, auth, db, receiver):
    from cryptography.fernet import Fernet

    delivery_id = _pending_delivery(client, auth, db, receiver.url)
    foreign = Fernet(Fernet.generate_key()).encrypt(b'"old-secret"').decode()
    db.session.execute(text("UPDATE subscriptions SET secret_encrypted = :token"), {"token": foreign})
    db.session.commit()
    assert subscriptions_service.send_delivery(session=db.session, delivery_id=delivery_id) == "pending"
    assert receiver.requests == []
    assert (
        db.session.execute(text("SELECT last_error FROM outbound_deliveries")).scalar_one()
        == "The subscription's secret cannot be decrypted with the configured ENCRYPTION_KEYS."
    )


def test_a_tls_receiver_that_does_not_speak_tls_is_a_failed_handshake(receiver):
    outcome = _post(
        url=receiver.url.replace("http://", "https://"), secret=SECRET, delivery_id="d-3", event_type="issue.created", body=b"{}"
    )
    assert outcome.error == "TLS handshake with the receiver failed." and outcome.status_code is None


def test_an_overtaken_attempt_is_dropped_and_leaves_the_delivery_unlocked(client, auth, db, receiver):
    delivery_id = _pending_delivery(client, auth, db, receiver.url)
    outcome = subscriptions_service._Outcome(attempted_at=datetime.now(UTC), status_code=200)
    assert subscriptions_service._record(db.session, delivery_id=delivery_id, attempt=3, outcome=outcome) is None
    assert read_unlocked(db.engine, "outbound_deliveries", "attempts", delivery_id) == 0


def test_a_url_requests_cannot_send_is_recorded_as_a_failed_request_naming_only_the_error_type(app):
    # The policy reads host names through the IDNA 2003 codec, which drops a zero-width joiner; requests applies
    # IDNA 2008, which refuses it: a URL the policy can check may still be one requests will not send.
    with app.app_context():
        outcome = _post(
            url="http://a\u200d.example/hook?token=t0ken",
            secret=SECRET,
            delivery_id="d-4",
            event_type="issue.created",
            body=b"{}",
        )
    assert outcome.status_code is None
    assert outcome.error == "Request failed: InvalidURL."
    assert not outcome.succeeded
