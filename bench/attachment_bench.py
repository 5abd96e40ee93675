"""A 50 MiB attachment through a uwsgi worker: its RSS growth while uploading and while streaming the download, on the
built-in tracker and on a remote one (the Jira Data Center fake, a real HTTP server on 127.0.0.1).

Run by hand: .venv/bin/python -m bench.attachment_bench  (embedded PostgreSQL unless DATABASE_URL is set).
The built-in tracker keeps the file in 256 KiB rows; the download streams them one at a time. Jira's file is fetched
with the stored credentials and passed on as it arrives. Either way the worker's resident memory must grow by far less
than the file: the issue's bar is under 20 MiB for 50 MiB, and the bench exits 1 above it. Writes its section of
docs/PERFORMANCE.md.
"""

import os
import sys
import threading
import time

import requests

from bench.harness import options
from bench.harness.clients import create_tracker, register_and_login
from bench.harness.measure import worker_rss_mb
from bench.harness.report import machine, write_section
from bench.harness.server import migrated_env, uwsgi

SIZE = 50 * 1024 * 1024
BAR_MIB = 20


class _File:
    """50 MiB of non-repeating bytes, produced as they are read (the client holds no copy either)."""

    def __init__(self, size):
        self.size, self.sent = size, 0

    def read(self, amount=-1):
        amount = self.size - self.sent if amount is None or amount < 0 else min(amount, self.size - self.sent)
        self.sent += amount
        return os.urandom(amount) if amount else b""

    def __len__(self):
        return self.size - self.sent


def _peak_rss(master_pid, stop, samples):
    while not stop.is_set():
        samples.append(worker_rss_mb(master_pid))
        time.sleep(0.05)


def _measure(master_pid, action):
    """(result, baseline, peak) of the worker whose resident memory grew most (workers listed in pid order)."""
    before = worker_rss_mb(master_pid)
    stop, samples = threading.Event(), []
    sampler = threading.Thread(target=_peak_rss, args=(master_pid, stop, samples), daemon=True)
    sampler.start()
    try:
        result = action()
    finally:
        stop.set()
        sampler.join()
    growth = [
        (max([sizes[i] for sizes in samples if len(sizes) == len(before)] or [base]) - base, base)
        for i, base in enumerate(before)
    ]
    grown, base = max(growth)
    return result, base, base + grown


def _remote_tracker(base, token, fake):
    """A Jira Data Center tracker on the fake (detected from its serverInfo)."""
    fake.add_token("bench-pat", name="alice")
    fake.add_project("APP", members=["alice"])
    return create_tracker(
        base,
        token,
        {"name": "jira", "provider": "jira", "target": "APP", "base_url": fake.base_url, "credentials": {"token": "bench-pat"}},
    )


def _round_trip(master_pid, issues, issue_id, headers):
    """Upload then download SIZE bytes on one issue: [(step, seconds, baseline MiB, peak MiB)]."""
    from requests_toolbelt import MultipartEncoder

    # Warm the worker(s) with a small round trip first, so the baseline includes the code paths.
    small = requests.post(
        f"{issues}/{issue_id}/attachments",
        headers=headers,
        timeout=60,
        files={"file": ("small.bin", b"x" * 4096, "application/octet-stream")},
    )
    small.raise_for_status()
    requests.get(f"{issues}/{issue_id}/attachments/{small.json()['id']}/content", headers=headers, timeout=60)

    def upload():
        body = MultipartEncoder(fields={"file": ("big.bin", _File(SIZE), "application/octet-stream")})
        response = requests.post(
            f"{issues}/{issue_id}/attachments", data=body, timeout=600, headers={**headers, "Content-Type": body.content_type}
        )
        response.raise_for_status()
        return response.json()

    started = time.perf_counter()
    attachment, up_base, up_peak = _measure(master_pid, upload)
    rows = [("upload", time.perf_counter() - started, up_base, up_peak)]

    def download():
        received = 0
        with requests.get(
            f"{issues}/{issue_id}/attachments/{attachment['id']}/content", headers=headers, stream=True, timeout=600
        ) as response:
            response.raise_for_status()
            for chunk in response.iter_content(256 * 1024):
                received += len(chunk)
                time.sleep(0.001)  # a slowish client: the worker must not read ahead into memory
        return received

    started = time.perf_counter()
    received, down_base, down_peak = _measure(master_pid, download)
    assert received == SIZE, received
    return [*rows, ("download", time.perf_counter() - started, down_base, down_peak)]


def main():
    from test.fakes.jira import DATA_CENTER, JiraFake

    options(__doc__).parse_args()  # no options: `--help` says so rather than starting a run
    results = {}
    limits = {"ATTACHMENT_MAX_BYTES": SIZE + 1024 * 1024, "TRACKER_TIMEOUT_SECONDS": 60}
    with (
        migrated_env(RATELIMIT_ENABLED="false", LOG_REQUESTS="false", **limits) as env,
        JiraFake(flavour=DATA_CENTER) as fake,
        uwsgi(env) as (base, master_pid),
    ):
        token = register_and_login(base, "attachment_bench")[1]
        headers = {"Authorization": f"Bearer {token}"}
        local = create_tracker(base, token, {"name": "bench", "provider": "builtin", "target": "bench"})
        for name, tracker_id in (("built-in", local), ("Jira DC fake", _remote_tracker(base, token, fake))):
            issues = f"{base}/api/v1/trackers/{tracker_id}/issues"
            issue = requests.post(issues, json={"title": "big file"}, headers=headers, timeout=30)
            issue.raise_for_status()
            results[name] = _round_trip(master_pid, issues, issue.json()["id"], headers)
    lines = []
    for name, rows in results.items():
        for step, seconds, base_mib, peak_mib in rows:
            lines.append(
                f"| {name} | {step} {SIZE >> 20} MiB | {seconds:.1f} s | {base_mib:.1f} -> {peak_mib:.1f} MiB "
                f"| +{peak_mib - base_mib:.1f} MiB |"
            )
            print(
                f"{name:13} {step:8} {SIZE >> 20} MiB in {seconds:.1f} s: worker RSS {base_mib:.1f} -> peak "
                f"{peak_mib:.1f} MiB (+{peak_mib - base_mib:.1f} MiB)"
            )
    worst = max(peak - base for rows in results.values() for _step, _s, base, peak in rows)
    write_section(
        "attachments",
        f"""## Attachments: a 50 MiB file through one uwsgi worker (issue 13)

`bench/attachment_bench.py` (run by hand: `.venv/bin/python -m bench.attachment_bench`) uploads a 50 MiB file through
uwsgi under the committed `uwsgi.ini` and downloads it with a slow client, sampling every 50 ms the resident memory
(`ps` RSS, KiB / 1024 = MiB) of the worker that grew most: once to a built-in issue (stored as 256 KiB rows, streamed
back a row at a time) and once to an issue on the Jira Data Center fake (a real HTTP server on 127.0.0.1, in the bench's
process; the gateway sends the file as a streamed multipart body and passes the download on as it arrives). {machine()}.

| tracker | step | time | worker RSS | growth |
|---|---|---|---|---|
{chr(10).join(lines)}

The bar is under {BAR_MIB} MiB of growth for 50 MiB; the bench exits 1 above it (largest growth in this run:
{worst:.1f} MiB). It fails when it should (tried by hand): a built-in download that joined the rows before sending grew
the worker by 178 MiB, and a Jira download read whole before it was passed on (`stream=False`) by 50.2 MiB (exit 1).""",
    )
    if worst >= BAR_MIB:
        print(f"FAIL: a worker grew by {worst:.1f} MiB (bar: under {BAR_MIB} MiB)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
