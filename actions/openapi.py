"""Schema text → operations. No database, no network.

Interface (used by the editor, the GPT file importer and the executor):

    parse_schema(text: str, *, max_bytes: int = 1_000_000) -> ParsedSchema
        raises SchemaError(problems=[SchemaProblem(where, message), ...])

`where` names the place in the schema a builder can find: "line 12" for syntax errors,
"paths./pets.get.operationId" style paths for structural ones, "servers[0].url", "(document)".
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SchemaProblem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class SchemaError(ValueError):
    def __init__(self, problems: list[SchemaProblem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass(frozen=True)
class OperationSpec:
    operation_id: str
    method: str  # upper case: GET, POST, ...
    path: str
    summary: str = ""
    description: str = ""
    # Each: {"name", "in" (path/query/header), "required": bool, "schema": {...}, "description"}
    parameters: list = field(default_factory=list)
    request_body: dict | None = None  # JSON schema of the application/json body, $refs resolved
    request_body_required: bool = False
    is_consequential: bool = False
    consequential_explicit: bool = False  # x-openai-isConsequential: true, literally


@dataclass(frozen=True)
class ParsedSchema:
    document: dict
    title: str
    server_url: str
    domain: str  # host of server_url, lower case, no port
    operations: list[OperationSpec]
    warnings: list[SchemaProblem] = field(default_factory=list)


def parse_schema(text: str, *, max_bytes: int = 1_000_000) -> ParsedSchema:
    raise NotImplementedError
