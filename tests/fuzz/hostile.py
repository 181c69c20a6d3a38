"""Hostile requests for every operation of both hosts' OpenAPI documents.

Nothing is listed by hand: the operations, their path and query parameters
and their JSON body properties come from drf-spectacular's schema of
``config.urls_public`` and ``config.urls_tenant`` (the documents clients and
schemathesis see), so a new endpoint or parameter is walked the next time
the tests run.

Each :class:`HostileClass` is one kind of input issue #18 found answered
with a 500 (deep nesting, out-of-range numbers and dates, NUL and lone
surrogates, huge strings, wrong types, too many parameters, malformed
bodies). :func:`requests_for` turns (operation, class) into concrete
requests: each path parameter, query parameter and body property in turn
gets the hostile value while the others keep plausible values (real ids,
valid dates, the required properties), so the value reaches the code
behind that one parameter; date parameters are also attacked together (a
``from``/``to`` pair overflows only as a pair), and whole raw bodies
(deep documents, malformed JSON, multipart and forms) replace the body.

* ``full=False`` (CI): a parameter-dependent class (numbers, dates, long
  texts, wrong types) in every parameter of every operation, an encoding
  class (nesting, NUL, surrogates, malformed bodies) in one parameter per
  place, rotating (see :func:`_values`, :func:`_groups`);
* ``full=True`` (``make fuzz``): every value of the class, and all the
  parameters of a place at once as well.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import quote

DEPTH = 1000
DEEP_ARRAY = "[" * DEPTH + "]" * DEPTH
DEEP_OBJECT = '{"a":' * DEPTH + "0" + "}" * DEPTH
#: Placeholder replaced by raw JSON text after ``json.dumps`` (a deep
#: document cannot be built as a Python object and dumped: it recurses too).
_RAW = "\x01raw:{}\x01"
URLCONFS = {"public": "config.urls_public", "tenant": "config.urls_tenant"}
_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Param:
    """A query parameter or a body property, as the schema describes it."""

    name: str
    type: str  # JSON schema type ("any" when the schema says nothing)
    format: str = ""
    enum: tuple[Any, ...] = ()
    required: bool = False

    @property
    def is_date(self) -> bool:
        return self.format in ("date", "date-time") or self.name in ("from", "to", "since")

    def benign(self) -> Any:
        """A plausible value, so a request fails on the hostile parameter and
        not on a missing or malformed neighbour."""
        if self.enum:
            return next((e for e in self.enum if e not in ("", None)), self.enum[0])
        by_format = {
            "date": "2026-01-05",
            "date-time": "2026-01-05T10:00:00+00:00",
            "uuid": "00000000-0000-4000-8000-000000000000",
            "email": "walker@example.com",
            "time": "10:00",
            "decimal": "1.00",
            "uri": "https://example.com/",
        }
        if self.format in by_format:
            return by_format[self.format]
        if self.name in ("from", "to"):
            return "2026-01-05"
        return {"integer": 1, "number": 1, "boolean": True, "array": [], "object": {}}.get(
            self.type, "walker"
        )


@dataclass(frozen=True)
class Operation:
    host: str  # "public" | "tenant"
    method: str
    path: str  # OpenAPI template, e.g. /api/v1/projects/{id}/
    path_params: tuple[str, ...]
    query_params: tuple[Param, ...]
    body_props: tuple[Param, ...] | None  # JSON body properties; None: no body
    form: bool  # also takes form bodies

    @property
    def id(self) -> str:
        return f"{self.host}:{self.method.upper()} {self.path}"


@dataclass(frozen=True)
class Raw:
    """JSON text spliced into a body as is (see :data:`_RAW`)."""

    text: str


@dataclass(frozen=True)
class HostileClass:
    name: str
    #: values for a path segment, a query value, a body property
    path: tuple[str, ...]
    query: tuple[str, ...]
    body: tuple[Any, ...]
    #: whole raw bodies (bytes, content type) sent in place of a JSON object
    raw_bodies: tuple[tuple[bytes, str], ...] = ()
    #: a whole query string replacing the parameters (too many of them)
    raw_query: Callable[[Operation], str] | None = None
    #: whether what the value does depends on the parameter that holds it
    #: (a number, a date, a long text, a type each parameter's code reads
    #: its own way) rather than on how the request is encoded (nesting,
    #: NUL, surrogates, malformed bodies: the parser or middleware meets
    #: them whatever the parameter). The bounded walk sends the first kind
    #: to every parameter and the second to one parameter per place,
    #: rotating which one from operation to operation.
    per_parameter: bool = False


def _too_many(op: Operation) -> str:
    return "&".join(f"p{i}=1" for i in range(1001))


def _multipart(body: bytes, boundary: str = "b") -> tuple[bytes, str]:
    return body, f"multipart/form-data; boundary={boundary}"


CLASSES: tuple[HostileClass, ...] = (
    HostileClass(
        "deep_nesting",
        path=("%5B" * 200,),
        query=("[" * DEPTH, "{" * DEPTH),
        body=(Raw(DEEP_ARRAY), Raw(DEEP_OBJECT)),
        raw_bodies=(
            (DEEP_ARRAY.encode(), "application/json"),
            (DEEP_OBJECT.encode(), "application/json"),
        ),
    ),
    HostileClass(
        "out_of_range_number",
        path=("99999999999999999999", "-1", "0"),
        query=(
            "99999999999999999999",
            "-99999999999999999999",
            "1e308",
            "-1",
            "0",
            # digits to str.isdigit() or int() that are not ASCII digits, and
            # a small number spelled long
            "²",
            "\uff11",
            "0000000000001",
        ),
        body=(
            Raw("99999999999999999999"),
            Raw("-99999999999999999999"),
            Raw("1e308"),
            Raw("1e400"),
            Raw("-1"),
            Raw("0.000000000000000000001"),
            Raw("1" * 5000),
        ),
        per_parameter=True,
    ),
    HostileClass(
        "out_of_range_date",
        path=("9999-12-31", "0001-01-01"),
        query=(
            "9999-12-31",
            "0001-01-01",
            "9999-12-31T23:59:59+00:00",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "10000-01-01",
            # offsets Python reads and PostgreSQL refuses (past 15:59)
            "2026-01-01T00:00:00+16:00",
            "2026-01-01T00:00:00-23:59",
            "9999-12-31T23:59:59+23:59",
        ),
        body=(
            "9999-12-31",
            "0001-01-01",
            "9999-12-31T23:59:59+00:00",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "2026-01-01T00:00:00+16:00",
            "2026-01-01T00:00:00-23:59",
        ),
        per_parameter=True,
    ),
    HostileClass(
        "nul",
        path=("a%00b",),
        query=("a\x00b", "\x00"),
        body=("a\x00b", {"k\x00": "v"}, ["\x00"]),
        raw_bodies=(
            (b"a=%00&b=1", "application/x-www-form-urlencoded"),
            _multipart(
                b'--b\r\nContent-Disposition: form-data; name="n"\r\n\r\na\x00b\r\n--b--\r\n'
            ),
        ),
    ),
    HostileClass(
        "lone_surrogate",
        path=("%ED%A0%80",),
        query=("\ud800", "a\udfffb"),
        body=("\ud800", {"\udc00": 1}, ["x\ud800"]),
    ),
    HostileClass(
        "huge_string",
        path=("x" * 4000,),
        query=("x" * 20000,),
        body=("x" * 200_000, ["x" * 1000] * 200),
        per_parameter=True,
    ),
    HostileClass(
        "wrong_type",
        path=("not-a-uuid", "%20"),
        query=("[]", "{}", "true", "null", "abc", ""),
        body=({"a": 1}, [1, 2], True, None, "abc", 12.5, ""),
        raw_bodies=(
            (b"[]", "application/json"),
            (b'"text"', "application/json"),
            (b"null", "application/json"),
            (b"12", "application/json"),
        ),
        per_parameter=True,
    ),
    HostileClass(
        "malformed_body",
        path=("%ZZ",),
        query=("%ZZ", "%ff%fe"),
        body=(),
        raw_bodies=(
            (b'{"name": "\xff\xfe"}', "application/json"),
            (b'{"name": ', "application/json"),
            (b'{"name": "x"}', "application/json; charset=utf-16"),
            (b"NaN", "application/json"),
            (b"\x00\x01\x02", "application/octet-stream"),
            _multipart(b"--b\r\nbroken"),
            _multipart(b"--x\r\n\r\n", boundary=""),
            (b"a=%ZZ&" + b"b=" + b"\xff" * 10, "application/x-www-form-urlencoded"),
        ),
    ),
    HostileClass(
        "too_many_fields",
        path=(),
        query=(),
        body=(),
        raw_bodies=(
            (
                "&".join(f"p{i}=1" for i in range(1001)).encode(),
                "application/x-www-form-urlencoded",
            ),
        ),
        raw_query=_too_many,
    ),
)


@dataclass
class HostileRequest:
    op: Operation
    hostile: str
    place: str  # path | query | body
    path: str
    query: str = ""
    body: bytes | None = None
    content_type: str = "application/json"
    what: str = ""  # which parameter(s) and value, for failure messages

    @property
    def url(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")

    def describe(self) -> str:
        return f"{self.op.id} [{self.hostile} in {self.place}: {self.what}]"


@dataclass
class Walked:
    """Figures of one walk (for the terminal summary and the report)."""

    operations: set[str] = field(default_factory=set)
    requests: int = 0
    by_class: dict[str, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    bad_shape: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0
    send_seconds: float = 0.0  # of which in the requests themselves
    on_commit_callbacks: int = 0  # run as the requests' commits would have


# --- schema → operations ------------------------------------------------------------------


@cache
def schema(host: str) -> dict[str, Any]:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator(urlconf=URLCONFS[host]).get_schema(request=None, public=True)  # type: ignore[no-any-return]


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = document["components"]["schemas"][name]
    return node


def _param(document: dict[str, Any], name: str, node: dict[str, Any], required: bool) -> Param:
    node = _resolve(document, node)
    for key in ("oneOf", "anyOf", "allOf"):
        if "type" not in node and node.get(key):
            node = _resolve(document, node[key][0])
    return Param(
        name=name,
        type=str(node.get("type", "any")),
        format=str(node.get("format", "")),
        enum=tuple(node.get("enum", ())),
        required=required,
    )


def operations(host: str) -> list[Operation]:
    document = schema(host)
    out = []
    for path, item in sorted(document["paths"].items()):
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = op.get("parameters", []) + item.get("parameters", [])
            path_params = tuple(p["name"] for p in params if p["in"] == "path")
            query = tuple(
                _param(document, p["name"], p.get("schema", {}), bool(p.get("required")))
                for p in params
                if p["in"] == "query"
            )
            content = op.get("requestBody", {}).get("content", {})
            body: tuple[Param, ...] | None = None
            if content:
                node = _resolve(document, next(iter(content.values())).get("schema", {}))
                required = set(node.get("required", ()))
                body = tuple(
                    _param(document, name, sub, name in required)
                    for name, sub in sorted(node.get("properties", {}).items())
                )
            form = any("form" in media for media in content)
            out.append(Operation(host, method, path, path_params, query, body, form))
    return out


# --- operation x class → requests -----------------------------------------------------------


def _query_text(pairs: list[tuple[str, str]]) -> str:
    """A query string; values encoded as UTF-8 with lone surrogates kept
    (``surrogatepass``: what a client that does not check sends)."""

    def enc(value: str) -> str:
        return quote(value.encode("utf-8", "surrogatepass"), safe="")

    return "&".join(f"{enc(k)}={enc(v)}" for k, v in pairs)


def _json_text(obj: Any) -> bytes:
    raws: list[str] = []

    def swap(node: Any) -> Any:
        if isinstance(node, Raw):
            raws.append(node.text)
            return _RAW.format(len(raws) - 1)
        if isinstance(node, dict):
            return {k: swap(v) for k, v in node.items()}
        if isinstance(node, list):
            return [swap(v) for v in node]
        return node

    text = json.dumps(swap(obj))  # ensure_ascii: NUL → \u0000, surrogates → \ud800
    for i, raw in enumerate(raws):
        text = text.replace(json.dumps(_RAW.format(i)), raw)
    return text.encode("ascii")


def _path(op: Operation, values: dict[str, str]) -> str:
    path = op.path
    for name in op.path_params:
        path = path.replace("{" + name + "}", values[name])
    return path


def _groups(
    params: tuple[Param, ...], hostile: HostileClass, op: Operation, *, full: bool, spread: bool
) -> list[list[Param]]:
    """Which parameters get the hostile value together: each on its own
    (bounded walk: only one, rotating, for an encoding class or when
    ``spread`` is off), then all the date parameters at once (a ``from``/``to``
    pair breaks only together), then all of them (``full``)."""
    if full or (spread and hostile.per_parameter):
        groups = [[p] for p in params]
    else:
        groups = [[params[zlib.crc32(op.id.encode()) % len(params)]]]
    dated = [p for p in params if p.is_date]
    if hostile.name == "out_of_range_date" and len(dated) > 1:
        groups.append(dated)
    if full and len(params) > 1:
        groups.append(list(params))
    return groups


def _values(
    values: tuple[Any, ...], op: Operation, group: list[Param], hostile: HostileClass, *, full: bool
) -> tuple[Any, ...]:
    """Every value (``full``). Bounded: a parameter-dependent class sends
    its first (harshest) value to every parameter, plus one more to number
    and date parameters; an encoding class sends one value. The extra value
    rotates over parameters and operations (stable between runs), so every
    value of a class is sent somewhere."""
    if full or not values:
        return values
    turn = values[zlib.crc32((op.id + group[0].name).encode()) % len(values)]
    if not hostile.per_parameter:
        return (turn,)
    typed = any(p.is_date or p.type in ("integer", "number") for p in group)
    return (values[0], turn) if typed and turn != values[0] else (values[0],)


def requests_for(
    op: Operation,
    hostile: HostileClass,
    path_values: dict[str, str],
    *,
    full: bool,
    spread: bool = True,
    known: dict[str, str] | None = None,
) -> Iterator[HostileRequest]:
    """The requests that put ``hostile`` in each place ``op`` has; the other
    parameters keep plausible values (real ids in the path, the required and
    date parameters in the query, the required properties in the body;
    ``known`` gives real ids for uuid parameters by name)."""
    base = _path(op, path_values)
    known = known or {}

    def benign_of(p: Param) -> Any:
        return known.get(p.name, p.benign()) if p.format == "uuid" else p.benign()

    def make(place: str, what: str, **kw: Any) -> HostileRequest:
        return HostileRequest(op=op, hostile=hostile.name, place=place, what=what, **kw)

    # path: each parameter on its own
    for name in op.path_params:
        for value in hostile.path if full else hostile.path[:1]:
            values = dict(path_values) | {name: value}
            yield make("path", f"{name}={value[:30]!r}", path=_path(op, values))
        if not spread:
            break
    # query
    benign = [(p.name, benign_of(p)) for p in op.query_params if p.required or p.is_date]
    plain = [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in benign]
    if hostile.raw_query is not None:
        yield make("query", "1001 parameters", path=base, query=hostile.raw_query(op))
    params = op.query_params or (Param("unknown_param", "string"),)
    for group in _groups(params, hostile, op, full=full, spread=spread):
        for value in _values(hostile.query, op, group, hostile, full=full):
            names = {p.name for p in group}
            pairs = [(k, v) for k, v in plain if k not in names] + [(n, value) for n in names]
            what = f"{','.join(sorted(names))}={value[:30]!r}"
            yield make("query", what, path=base, query=_query_text(pairs))
    # body
    if op.body_props is None or op.method in ("get", "delete"):
        return
    required = {p.name: benign_of(p) for p in op.body_props if p.required}
    props = op.body_props or (Param("unknown_field", "string"),)
    for group in _groups(props, hostile, op, full=full, spread=spread):
        for value in _values(hostile.body, op, group, hostile, full=full):
            body = required | {p.name: value for p in group}
            what = f"{','.join(p.name for p in group)}={str(value)[:30]!r}"
            yield make("body", what, path=base, body=_json_text(body))
    raws = [(raw, kind) for raw, kind in hostile.raw_bodies if op.form or "form" not in kind]
    for index, (raw, content_type) in enumerate(raws):
        if full or index == zlib.crc32(op.id.encode()) % len(raws):
            what = f"raw {content_type}: {raw[:30]!r}"
            yield make("body", what, path=base, body=raw, content_type=content_type)
