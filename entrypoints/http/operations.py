"""The operation table: one `Operation` per endpoint both registers its route and writes its part
of the OpenAPI document, with the request and response schemas generated from the declared
`Struct`s (entrypoints/http/shapes.py). Adding an endpoint is one entry in a module's table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from entrypoints.http.errors import Error

JSON = "application/json"
REF = "#/components/schemas/{name}"

Handler = Callable[[Request], Awaitable[Response]]


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(name=name)}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {JSON: {"schema": schema}}}


def error(description: str) -> dict[str, Any]:
    return {"description": description, **json_content(ref("Error"))}


def ok(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, **json_content(ref(schema))}


# Responses many operations share (`Error`, every refusal's body, is declared in errors.py).
AUTH_ERRORS = {
    "401": error("missing, unknown or revoked API key"),
    "403": error("the key lacks the scope"),
    "429": {
        **error("this API key's rate limit is used up (`rate_limited`)"),
        "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer", "minimum": 1}}},
    },
}
BAD_INPUT = {"400": error("unreadable JSON"), "413": error("body too large"), "422": error("invalid field")}
IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A replay with the same key returns the first response; another body with it is refused (422).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
PROVIDER_ERRORS = {
    "402": error("the provider declined"),
    "502": error("the provider answered unreadably: outcome unknown, kept pending"),
    "504": error("the provider timed out: outcome unknown, kept pending"),
}
DATABASE_UNAVAILABLE = {
    **error(
        "`database_unavailable`: the database is unreachable (a restart, a failover);"
        " retry shortly with the same Idempotency-Key"
    ),
    "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer", "minimum": 1}}},
}
# What a write on the old service's paths may be refused with besides its input.
LEGACY_WRITE_ERRORS = {
    **AUTH_ERRORS,
    **BAD_INPUT,
    "404": error("unknown shop or payment"),
    "409": error("conflict (see the code)"),
}
BUSY = {
    "429": error("too many requests for this API key (Retry-After)"),
    "503": error("the database is unavailable: retry with the same Idempotency-Key"),
}


@attrs.frozen
class Operation:
    """One endpoint. `body` is the declared request type (a `Struct`); `answer` the declared type of
    the answer at `status` (a `Struct`, or a type such as `list[Shape]`), or None for an answer
    that is not JSON (`media` then names it); `other_media` the same answer in other media types
    (media → schema: a CSV export); `body_media` the media types the body may come in, each
    described by `body`; `responses` the other answers it may give (status → OpenAPI response
    object). `public` operations take no API key; `uses_database` ones may answer 503
    `database_unavailable`."""

    method: str
    path: str
    handler: Handler
    summary: str
    answer: Any
    status: int = 200
    body: type[msgspec.Struct] | None = None
    body_required: bool = True
    description: str | None = None
    parameters: Sequence[Mapping[str, Any]] = ()
    responses: Mapping[str, Any] = attrs.field(factory=dict)
    media: str = JSON
    other_media: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    body_media: Sequence[str] = (JSON,)
    public: bool = False
    uses_database: bool = True

    def document(self, schema_of: Mapping[Any, dict[str, Any]]) -> dict[str, Any]:
        """This operation's OpenAPI object; `schema_of` maps each declared type to its schema."""
        operation: dict[str, Any] = {"summary": self.summary}
        if self.description:
            operation["description"] = self.description
        if self.public:
            operation["security"] = []
        if self.parameters:
            operation["parameters"] = [dict(p) for p in self.parameters]
        if self.body is not None:
            body = {media: {"schema": schema_of[self.body]} for media in self.body_media}
            operation["requestBody"] = {"required": self.body_required, "content": body}
        answer_schema = schema_of[self.answer] if self.answer is not None else {"type": "string"}
        content = {self.media: {"schema": answer_schema}}
        content |= {media: {"schema": dict(schema)} for media, schema in self.other_media.items()}
        answered = {"description": self.summary, "content": content}
        responses = {str(self.status): answered, **self.responses}
        if self.uses_database:
            responses = {"503": DATABASE_UNAVAILABLE, **responses}
        operation["responses"] = responses
        return operation


def routes_of(operations: Iterable[Operation]) -> list[Route]:
    return [Route(op.path, op.handler, methods=[op.method]) for op in operations]


def document(operations: Sequence[Operation]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(paths, component schemas) of `operations`: the schemas generated from their declared types."""
    shapes = list(dict.fromkeys(
        shape for op in operations for shape in (op.body, op.answer) if shape is not None
    ))
    schemas, components = msgspec.json.schema_components([*shapes, Error], ref_template=REF)
    schema_of = dict(zip(shapes, schemas[: len(shapes)], strict=True))
    paths: dict[str, Any] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = op.document(schema_of)
    return paths, components
