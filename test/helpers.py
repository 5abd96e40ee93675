"""Small test utilities shared across test modules."""

import time


def wait_until(predicate, timeout=10.0, interval=0.02, message="condition not met"):
    """Poll `predicate` until it returns a truthy value (returned), failing the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        assert time.monotonic() < deadline, f"{message} within {timeout} s"
        time.sleep(interval)
