#!/usr/bin/env python
"""Offers list throughput vs a bare Flask hello under the same uwsgi settings.

Run: .venv/bin/python bench/offers_bench.py [--seconds 15] [--connections 32]
Writes its figures into docs/PERFORMANCE.md (section "offers").
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, app_env, database, machine, require_wrk, uwsgi, worker_rss_mb, write_section, wrk

TARGET_RATIO, TARGET_P99_MS, TARGET_RSS_MB = 0.35, 25.0, 120.0


def seed(env):
    """Migrate, create a user with 20 offers, and return (user_id, token)."""
    subprocess.run([sys.executable, "manage.py", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    code = (
        "from api import create_app\n"
        "from api.extensions import db\n"
        "from api.auth import encode_token\n"
        "from api.models.offers import Offer\n"
        "from api.services.users import register\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    user = register(session=db.session, username='bench', password='bench-password')\n"
        "    for n in range(20):\n"
        "        db.session.add(Offer(user_id=user.id, title=f'Offer {n}', description='d' * 200,\n"
        "                             skills_list=['python', 'flask', 'postgresql']))\n"
        "    db.session.commit()\n"
        "    print(user.id, encode_token(user.id))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    user_id, token = output.stdout.split()[-2:]
    return int(user_id), token


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    require_wrk()
    with database() as database_url:
        env = app_env(database_url, LOG_REQUESTS="true")
        user_id, token = seed(env)
        with uwsgi(env, module="bench.hello:application", ready_path="/hello") as (base_url, _):
            wrk(base_url + "/hello", seconds=3, connections=args.connections)  # warm-up
            floor = wrk(base_url + "/hello", seconds=args.seconds, connections=args.connections)
        with uwsgi(env, log_path="/tmp/tg-bench-offers.log") as (base_url, master):
            url = f"{base_url}/api/v1/users/{user_id}/offers/"
            headers = {"Authorization": f"JWT {token}"}
            wrk(url, seconds=3, connections=args.connections, headers=headers)
            offers = wrk(url, seconds=args.seconds, connections=args.connections, headers=headers)
            rss = worker_rss_mb(master)
    ratio = offers["rps"] / floor["rps"]
    checks = {
        f"ratio >= {TARGET_RATIO}": ratio >= TARGET_RATIO,
        f"p99 <= {TARGET_P99_MS} ms": offers["p99_ms"] <= TARGET_P99_MS,
        f"worker RSS <= {TARGET_RSS_MB} MB": max(rss) <= TARGET_RSS_MB,
        "no errors": offers["non_2xx"] == 0 and offers["socket_errors"] == 0,
    }
    table = (
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}; wrk -t2 -c{args.connections} -d{args.seconds}s "
        f"on the same machine, uwsgi with the committed uwsgi.ini (access log on, to a file).\n\n"
        "| endpoint | req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|\n"
        f"| bare Flask `GET /hello` (floor) | {floor['rps']:.0f} | {floor['p50_ms']:.2f} | {floor['p99_ms']:.2f} | "
        f"{floor['non_2xx'] + floor['socket_errors']} |\n"
        f"| `GET /api/v1/users/<id>/offers/` (20 offers, JWT) | {offers['rps']:.0f} | {offers['p50_ms']:.2f} | "
        f"{offers['p99_ms']:.2f} | {offers['non_2xx'] + offers['socket_errors']} |\n\n"
        f"- Ratio offers / floor: **{ratio:.2f}** (target >= {TARGET_RATIO})\n"
        f"- Worker RSS after the run: {', '.join(f'{size:.0f}' for size in rss)} MB (target <= {TARGET_RSS_MB:.0f} MB each)\n"
        + "".join(f"- {name}: {'met' if ok else '**not met**'}\n" for name, ok in checks.items())
        + "\nReproduce: `.venv/bin/python bench/offers_bench.py`"
    )
    write_section("offers", "## Offers list vs the bare-Flask floor\n\n" + table)
    print(table)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
