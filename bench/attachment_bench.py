"""A 50 MiB attachment through a uwsgi worker: its RSS growth while uploading and while streaming the download.

Run by hand: .venv/bin/python -m bench.attachment_bench  (embedded PostgreSQL unless DATABASE_URL is set).
The built-in tracker keeps the file in 256 KiB rows; the download streams them one at a time, so the worker's
resident memory should grow by far less than the file (the issue's bar: under 20 MiB for 50 MiB).
"""

import os
import threading
import time

import requests

from bench.common import app_env, database, migrate, register_and_login, uwsgi, worker_rss_mb

SIZE = 50 * 1024 * 1024


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
    growth = [(max([sizes[i] for sizes in samples if len(sizes) == len(before)] or [base]) - base, base)
              for i, base in enumerate(before)]
    grown, base = max(growth)
    return result, base, base + grown


def main():
    from requests_toolbelt import MultipartEncoder

    with database() as url:
        env = app_env(url, ATTACHMENT_MAX_BYTES=SIZE + 1024 * 1024, RATELIMIT_ENABLED="false", LOG_REQUESTS="false")
        migrate(env)
        with uwsgi(env) as (base, master_pid):
            headers = {"Authorization": f"Bearer {register_and_login(base, 'attachment_bench')}"}
            api = f"{base}/api/v1/trackers"
            tracker = requests.post(f"{api}/", json={"name": "bench", "provider": "builtin", "target": "bench"},
                                    headers=headers, timeout=30).json()
            issues = f"{api}/{tracker['id']}/issues"
            issue = requests.post(issues, json={"title": "big file"}, headers=headers, timeout=30).json()
            # Warm the worker(s) with a small round trip first, so the baseline includes the code paths.
            small = requests.post(f"{issues}/{issue['id']}/attachments", headers=headers, timeout=60,
                                  files={"file": ("small.bin", b"x" * 4096, "application/octet-stream")}).json()
            requests.get(f"{issues}/{issue['id']}/attachments/{small['id']}/content", headers=headers, timeout=60)

            def upload():
                body = MultipartEncoder(fields={"file": ("big.bin", _File(SIZE), "application/octet-stream")})
                response = requests.post(f"{issues}/{issue['id']}/attachments", data=body, timeout=600,
                                         headers={**headers, "Content-Type": body.content_type})
                response.raise_for_status()
                return response.json()

            started = time.perf_counter()
            attachment, up_base, up_peak = _measure(master_pid, upload)
            up_seconds = time.perf_counter() - started

            def download():
                received = 0
                with requests.get(f"{issues}/{issue['id']}/attachments/{attachment['id']}/content", headers=headers,
                                  stream=True, timeout=600) as response:
                    response.raise_for_status()
                    for chunk in response.iter_content(256 * 1024):
                        received += len(chunk)
                        time.sleep(0.001)  # a slowish client: the worker must not read ahead into memory
                return received

            started = time.perf_counter()
            received, down_base, down_peak = _measure(master_pid, download)
            down_seconds = time.perf_counter() - started
    assert received == SIZE, received
    print(f"upload   {SIZE >> 20} MiB in {up_seconds:.1f} s: worker RSS {up_base:.1f} -> peak {up_peak:.1f} MB "
          f"(+{up_peak - up_base:.1f} MB)")
    print(f"download {SIZE >> 20} MiB in {down_seconds:.1f} s: worker RSS {down_base:.1f} -> peak {down_peak:.1f} MB "
          f"(+{down_peak - down_base:.1f} MB)")


if __name__ == "__main__":
    main()
