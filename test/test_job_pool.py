"""The job worker's connection pool: a connection is checked before use only after it sat idle, and a dead one is
replaced then (api/jobs.py's _pool_factory)."""

import asyncio

import psycopg
import psycopg_pool
import pytest

from api import jobs


@pytest.fixture
def checks(monkeypatch):
    """Counts the liveness checks the pool runs (procrastinate's own check, wrapped)."""
    seen = []
    original = psycopg_pool.AsyncConnectionPool.check_connection

    async def counting(connection):
        seen.append(connection)
        await original(connection)

    monkeypatch.setattr(psycopg_pool.AsyncConnectionPool, "check_connection", staticmethod(counting))
    return seen


def _pool(database_url):
    # The arguments procrastinate's PsycopgConnector passes to its pool factory.
    return jobs._pool_factory(
        conninfo=jobs._conninfo(database_url),
        min_size=1,
        max_size=1,
        open=False,
        check=psycopg_pool.AsyncConnectionPool.check_connection,
    )


def test_a_connection_handed_back_moments_ago_is_used_unchecked_and_one_idle_longer_is_checked(
    app, database_url, checks, monkeypatch
):
    async def scenario():
        async with _pool(database_url) as pool:
            for _ in range(3):
                async with pool.connection() as connection:
                    await connection.execute("SELECT 1")
            busy = len(checks)
            monkeypatch.setattr(jobs, "POOL_CHECK_AFTER_IDLE_SECONDS", 0.0)
            await asyncio.sleep(0.01)
            async with pool.connection() as connection:
                await connection.execute("SELECT 1")
            return busy, len(checks)

    busy, idle = asyncio.run(scenario())
    assert busy == 1  # the first use of the new connection only
    assert idle == 2


def test_a_connection_that_died_while_idle_is_replaced_before_use(app, database_url, monkeypatch):
    monkeypatch.setattr(jobs, "POOL_CHECK_AFTER_IDLE_SECONDS", 0.0)

    async def scenario():
        async with _pool(database_url) as pool:
            async with pool.connection() as connection:
                pid = connection.info.backend_pid
            async with await psycopg.AsyncConnection.connect(jobs._conninfo(database_url), autocommit=True) as admin:
                await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            await asyncio.sleep(0.05)
            async with pool.connection() as connection:
                row = await (await connection.execute("SELECT pg_backend_pid()")).fetchone()
            return pid, row[0]

    dead, used = asyncio.run(scenario())
    assert used != dead
