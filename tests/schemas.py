"""Small OpenAPI documents shared by tests."""

WEATHER = """\
openapi: 3.1.0
info:
  title: Weather
  version: "1.0"
servers:
  - url: https://api.weather.example.com/v1
paths:
  /forecast:
    get:
      operationId: getForecast
      summary: Forecast for a city
      parameters:
        - name: city
          in: query
          required: true
          schema: {type: string}
      responses:
        "200": {description: OK}
  /alerts:
    post:
      operationId: createAlert
      summary: Subscribe to alerts
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                city: {type: string}
      responses:
        "201": {description: Created}
"""


def with_server(url: str, text: str = WEATHER) -> str:
    return text.replace("https://api.weather.example.com/v1", url)
