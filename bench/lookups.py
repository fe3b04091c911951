"""How an invoke's two action lookups scale with the size of the action's schema (run by hand:
`.venv/bin/python bench/lookups.py`; see BENCHMARKS.md). Not a test.

`api.find_operation` and `oauth.live_connection` both `select_related` the Action, so every
invoke reads `Action.schema_text` (the whole OpenAPI document, up to ACTIONS_MAX_SCHEMA_BYTES)
from PostgreSQL, twice for an OAuth action, though running a call needs none of it. This times
both lookups as the app does them and as they would be without the schema text, for a small
and a large schema, on a fresh PostgreSQL database (dropped at the end).
"""

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402 - the benchmark's helpers: database, env, data

DB_NAME = "afarensis_bench_lookups"
PG = {"user": "postgres", "host": "127.0.0.1", "port": "5432"}
SIZES = (1_000, 100_000, 950_000)  # characters of schema text; the default limit is 1,000,000
REPEAT, CALLS = 5, 200


def padded_schema(size: int) -> str:
    """The bench's item schema grown to about `size` characters by a long description."""
    text = bench.item_schema("http://oauth.localhost:9", bench.OAUTH_OPERATION)
    pad = max(0, size - len(text))
    return text.replace('"version": "1"', f'"version": "1", "description": "{"x" * pad}"', 1)


def per_call_ms(function) -> float:
    runs = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        for _ in range(CALLS):
            function()
        runs.append((time.perf_counter() - started) * 1000 / CALLS)
    return statistics.median(runs)


def main() -> int:
    bench.fresh_database(PG, DB_NAME)
    try:
        env = bench.app_env(f"postgres://postgres@127.0.0.1:5432/{DB_NAME}", 8000)
        os.environ.update(env)
        migrate = [bench.PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"]
        subprocess.run(migrate, cwd=bench.ROOT, env=env, check=True, timeout=300)  # noqa: S603
        sys.path.insert(0, str(bench.ROOT))
        import django

        django.setup()
        bench.quiet_app_logs()
        return measure()
    finally:
        from django.db import connections

        connections.close_all()
        bench.psql(PG, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def measure() -> int:
    from django.contrib.auth import get_user_model

    from actions import api, oauth
    from actions.models import Action, Connection, Operation

    secrets_ = {k: f"bench-{k}" for k in ("api_key", "client_id", "client_secret")}
    secrets_ |= {"access_token": "at", "refresh_token": "rt"}
    data = bench.create_data(secrets_, 9)  # no calls are made: the upstream port is unused
    user = get_user_model().objects.get(username="bench")
    action = Action.objects.get(auth_type=Action.AuthType.OAUTH)
    gpt_id, name = data["gpt_id"], bench.OAUTH_OPERATION

    def find_without_schema():
        return list(
            Operation.objects.select_related("action__gpt")
            .defer("action__schema_text")
            .filter(action__gpt_id=gpt_id, operation_id=name)
            .order_by(*api.OPERATION_ORDER)[:1]
        )[0]

    def connection_without_join():
        found = list(
            Connection.objects.filter(
                action=action, user=user, status=Connection.Status.ACTIVE
            ).order_by()[:1]
        )
        found[0].action = action
        return found[0]

    rows = []
    for size in SIZES:
        text = padded_schema(size)
        Action.objects.filter(pk=action.pk).update(schema_text=text)
        rows.append(
            (
                len(text),
                per_call_ms(lambda: api.find_operation(gpt_id, name, user=user)),
                per_call_ms(find_without_schema),
                per_call_ms(lambda: oauth.live_connection(action, user=user)),
                per_call_ms(connection_without_join),
            )
        )
    print(f"\nms per lookup, median of {REPEAT} x {CALLS} calls, one thread, PostgreSQL\n")
    print(
        "| schema text | find_operation (as is) | without schema_text "
        "| live_connection (as is) | without the join |"
    )
    print("|--:|--:|--:|--:|--:|")
    for size, *times in rows:
        print(f"| {size / 1000:,.0f} KB | " + " | ".join(f"{t:.2f}" for t in times) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
