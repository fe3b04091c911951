"""The benchmark's stand-in for someone else's API and its OAuth token endpoint.

One asyncio process, HTTP/1.1 with keep-alive, tiny JSON answers, so that it costs far less
than the app in front of it. It checks and counts credentials, so a run can prove that every
call through the app arrived with the right key or token:

    GET  /v1/items/<id>  200 {"id", "name", "price", "tags"} with `X-Api-Key: <key>` or
                         `Authorization: Bearer <a token this server issued>`; 401 otherwise.
                         Asked for as host slow.localhost, it answers after --slow-ms (a
                         typical real API's latency)
    POST /token          grant_type=refresh_token with the client's id/secret in the body and
                         the current refresh token: waits --token-delay seconds (a real
                         provider is slow), then issues a new access token and rotates the
                         refresh token; 400 invalid_grant for any other refresh token
    GET  /_stats         the counters (and the current refresh token) as JSON
    POST /_reset         counters back to zero

Run: python bench/upstream.py --port P --api-key K --client-id C --client-secret S
     --access-token T --refresh-token R   (prints "ready" on stdout once listening)
"""

import argparse
import asyncio
import json
import secrets
from urllib.parse import parse_qsl

COUNTERS = (
    "connections",
    "requests",
    "api_key_ok",
    "api_bearer_ok",
    "api_denied",
    "token_requests",
    "token_issued",
    "token_refused",
    "other",
)


class State:
    def __init__(self, args: argparse.Namespace):
        self.api_key = args.api_key
        self.client_id, self.client_secret = args.client_id, args.client_secret
        self.valid_tokens = {args.access_token}
        self.refresh_token = args.refresh_token
        self.token_delay = args.token_delay
        self.slow_delay = args.slow_ms / 1000
        self.counts = dict.fromkeys(COUNTERS, 0)

    def stats(self) -> dict:
        return {**self.counts, "refresh_token": self.refresh_token}


ITEM = {"name": "Benchmark widget", "price": 12.5, "tags": ["bench", "small"], "in_stock": True}


def _response(status: int, payload: dict, *, close: bool = False) -> bytes:
    body = json.dumps(payload, separators=(",", ":")).encode()
    reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
    )
    if close:
        head += "Connection: close\r\n"
    return head.encode("latin-1") + b"\r\n" + body


async def _token(state: State, body: bytes) -> bytes:
    state.counts["token_requests"] += 1
    form = dict(parse_qsl(body.decode("latin-1")))
    good_client = (
        form.get("client_id") == state.client_id
        and form.get("client_secret") == state.client_secret
    )
    if (
        not good_client
        or form.get("grant_type") != "refresh_token"
        or form.get("refresh_token") != state.refresh_token
    ):
        state.counts["token_refused"] += 1
        return _response(400, {"error": "invalid_grant"})
    await asyncio.sleep(state.token_delay)
    access, state.refresh_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    state.valid_tokens.add(access)
    state.counts["token_issued"] += 1
    reply = {
        "access_token": access,
        "refresh_token": state.refresh_token,
        "token_type": "Bearer",
        "expires_in": 3600,
    }
    return _response(200, reply)


async def _item(state: State, path: str, headers: dict[str, str]) -> bytes:
    if headers.get("host", "").startswith("slow.localhost"):
        await asyncio.sleep(state.slow_delay)
    if headers.get("x-api-key") == state.api_key:
        state.counts["api_key_ok"] += 1
    elif headers.get("authorization", "").removeprefix("Bearer ") in state.valid_tokens:
        state.counts["api_bearer_ok"] += 1
    else:
        state.counts["api_denied"] += 1
        return _response(401, {"error": "invalid_token"})
    item_id = path.rsplit("/", 1)[-1].split("?", 1)[0]
    return _response(200, {"id": item_id, **ITEM})


async def _answer(state: State, method: str, path: str, headers: dict, body: bytes) -> bytes:
    state.counts["requests"] += 1
    if method == "GET" and path.startswith("/v1/items/"):
        return await _item(state, path, headers)
    if method == "POST" and path == "/token":
        return await _token(state, body)
    if method == "GET" and path == "/_stats":
        return _response(200, state.stats())
    if method == "POST" and path == "/_reset":
        state.counts = dict.fromkeys(COUNTERS, 0)
        return _response(200, {"reset": True})
    state.counts["other"] += 1
    return _response(404, {"error": "not_found"})


async def _serve(state: State, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    counted = False  # "connections": those that carried an API or token call, not /_stats
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                return
            method, path, version = parts
            headers = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if sep:
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            body = await reader.readexactly(length) if length else b""
            if not counted and not path.startswith("/_"):
                state.counts["connections"] += 1
                counted = True
            close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
            writer.write(await _answer(state, method, path, headers, body))
            await writer.drain()
            if close:
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--access-token", required=True)
    parser.add_argument("--refresh-token", required=True)
    parser.add_argument("--token-delay", type=float, default=0.2)
    parser.add_argument("--slow-ms", type=float, default=100.0)
    args = parser.parse_args()
    state = State(args)
    server = await asyncio.start_server(
        lambda r, w: _serve(state, r, w), args.host, args.port, backlog=4096, reuse_address=True
    )
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
