"""The demo API's two OpenAPI 3.1 schemas, served as YAML for the builder to import.

Two schemas, because an action is one domain with one authentication: the public one is used
with None, the vault one with API Key (Custom header X-Demo-Key). Neither declares
securitySchemes: authentication is chosen in the editor, as with GPT Actions.
"""

import yaml


def public_schema(server_url: str) -> str:
    """The forecast and echo operations, which need no authentication."""
    return _dump(
        title="Demo weather (no authentication)",
        description="A fake weather API bundled with Afarensis Actions for trying actions.",
        server_url=server_url,
        paths={
            "/forecast": {
                "get": {
                    "operationId": "getForecast",
                    "summary": "Weather forecast for a city",
                    "description": "Daily summaries with highs and lows in °C (made up).",
                    "parameters": [
                        {
                            "name": "city",
                            "in": "query",
                            "required": True,
                            "description": "City name, e.g. Paris",
                            "schema": {"type": "string", "maxLength": 100},
                        },
                        {
                            "name": "days",
                            "in": "query",
                            "required": False,
                            "description": "How many days to forecast (default 3)",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 7},
                        },
                    ],
                    "responses": {"200": {"description": "The forecast"}},
                }
            },
            "/echo": {
                "get": {
                    "operationId": "echoRequest",
                    "summary": "Show what reached the API",
                    "description": (
                        "Echoes the method, the query and the names (not values) of the "
                        "request headers, and whether an Authorization header arrived."
                    ),
                    "responses": {"200": {"description": "What the API received"}},
                }
            },
        },
    )


def vault_schema(server_url: str) -> str:
    """The vault operations, which need the demo API key in the X-Demo-Key header."""
    return _dump(
        title="Demo vault (API key)",
        description="A fake API bundled with Afarensis Actions; it needs the X-Demo-Key header.",
        server_url=server_url,
        paths={
            "/vault/message": {
                "get": {
                    "operationId": "getVaultMessage",
                    "summary": "Read the vault's message",
                    "responses": {
                        "200": {"description": "The message"},
                        "401": {"description": "Missing or wrong X-Demo-Key"},
                    },
                }
            },
            "/vault/notes": {
                "post": {
                    "operationId": "createVaultNote",
                    "summary": "Leave a note in the vault",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "text": {
                                            "type": "string",
                                            "maxLength": 500,
                                            "description": "The note",
                                        }
                                    },
                                    "required": ["text"],
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": {"description": "The note, with its id"},
                        "400": {"description": "The body is not valid"},
                        "401": {"description": "Missing or wrong X-Demo-Key"},
                    },
                }
            },
        },
    )


def _dump(*, title: str, description: str, server_url: str, paths: dict) -> str:
    document = {
        "openapi": "3.1.0",
        "info": {"title": title, "description": description, "version": "1.0"},
        "servers": [{"url": server_url}],
        "paths": paths,
    }
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def profile_schema(server_url: str) -> str:
    """The profile operations, which need the end user's own OAuth token (scope `profile`)."""
    return _dump(
        title="Demo profile (OAuth)",
        description=(
            "Your own demo profile, protected by this app's bundled OAuth provider at /o/. "
            "Each end user signs in and approves; calls carry their token."
        ),
        server_url=server_url,
        paths={
            "/me": {
                "get": {
                    "operationId": "getMyProfile",
                    "summary": "Who the API thinks you are",
                    "description": "The user the OAuth token belongs to, and its scopes.",
                    "responses": {"200": {"description": "Your profile"}},
                }
            },
        },
    )
