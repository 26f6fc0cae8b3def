"""The catalogue over HTTP: ``PUT /v1/items``, ``GET /v1/items``, ``GET /v1/items/{id}``,
against a live server on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
import time
from datetime import datetime
from typing import Any

import httpx
import orjson
import pytest

from builders import item
from conftest import SECRET_KEY, LiveServer


def put(http: httpx.Client, body: Any) -> httpx.Response:
    return http.put("/v1/items", json=body)


def all_ids(admin: httpx.Client) -> list[str]:
    ids: list[str] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500}
        if after is not None:
            params["after"] = after
        page = admin.get("/v1/items", params=params).json()
        ids.extend(entry["id"] for entry in page["items"])
        after = page["next_after"]
        if after is None:
            return ids


def test_upsert_then_read_back_every_field(admin: httpx.Client) -> None:
    sent = item(
        "sku-1",
        type="offer",
        title="Espresso cup",
        url="https://shop.example/cup",
        image="https://cdn.example/cup.jpg",
        price=12.5,
        currency="eur",
        category_path=["Home", "Kitchen", "Cups"],
        brand="Acme",
        tags=["gift", "ceramic"],
        keywords=["espresso", "cup"],
        language="fr-FR",
        stock=7,
        published_at="2024-03-01T10:00:00Z",
        attributes={"color": "red", "size": {"cl": 8}},
    )
    response = put(admin, {"items": [sent]})
    assert response.status_code == 200, response.text
    assert response.json() == {"created": 1, "updated": 0}

    got = admin.get("/v1/items/sku-1")
    assert got.status_code == 200
    body = got.json()
    assert body["id"] == "sku-1"
    assert body["type"] == "offer"
    assert body["title"] == "Espresso cup"
    assert body["url"] == "https://shop.example/cup"
    assert body["image"] == "https://cdn.example/cup.jpg"
    assert body["price"] == 12.5
    assert body["currency"] == "EUR"
    assert body["category_path"] == ["Home", "Kitchen", "Cups"]
    assert body["category"] == "Cups"
    assert body["brand"] == "Acme"
    assert body["tags"] == ["gift", "ceramic"]
    assert body["keywords"] == ["espresso", "cup"]
    assert body["language"] == "fr-FR"
    assert body["stock"] == 7
    assert body["available"] is True
    assert datetime.fromisoformat(body["published_at"]) == datetime.fromisoformat("2024-03-01T10:00:00+00:00")
    assert body["attributes"] == {"color": "red", "size": {"cl": 8}}
    assert body["created_at"] == body["updated_at"]
    assert "created_ms" not in body


def test_update_keeps_created_and_replaces_fields(admin: httpx.Client) -> None:
    assert put(admin, {"items": [item("a", title="Old", stock=3, tags=["x"])]}).json() == {
        "created": 1,
        "updated": 0,
    }
    first = admin.get("/v1/items/a").json()
    time.sleep(0.01)  # updated_at has millisecond resolution

    response = put(admin, {"items": [item("a", title="New", stock=0), item("b")]})
    assert response.json() == {"created": 1, "updated": 1}

    second = admin.get("/v1/items/a").json()
    assert second["title"] == "New"
    assert second["stock"] == 0
    assert second["available"] is False  # derived from stock 0
    assert second["tags"] == []  # a PUT replaces the item: absent fields are reset
    assert second["created_at"] == first["created_at"]
    assert datetime.fromisoformat(second["updated_at"]) > datetime.fromisoformat(first["updated_at"])


def test_bare_array_body_is_accepted(admin: httpx.Client) -> None:
    response = put(admin, [item("x1"), item("x2")])
    assert response.status_code == 200
    assert response.json() == {"created": 2, "updated": 0}
    assert sorted(all_ids(admin)) == ["x1", "x2"]


def test_numeric_id_becomes_a_string(admin: httpx.Client) -> None:
    assert put(admin, [item(42)]).status_code == 200  # type: ignore[arg-type]
    assert admin.get("/v1/items/42").json()["id"] == "42"


def test_write_key_is_refused(client: httpx.Client, admin: httpx.Client) -> None:
    response = put(client, {"items": [item("a")]})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "access.wrong_key_kind"
    assert client.get("/v1/items/a").status_code == 403
    assert client.get("/v1/items").json()["error"]["code"] == "access.wrong_key_kind"
    assert all_ids(admin) == []


def test_no_key_is_unauthenticated(server: LiveServer) -> None:
    with server.client(key=None) as anonymous:
        for response in (
            put(anonymous, {"items": [item("a")]}),
            anonymous.get("/v1/items/a"),
            anonymous.get("/v1/items"),
        ):
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "access.unauthenticated"


def test_secret_key_as_basic_user_works(server: LiveServer) -> None:
    with server.client(key=SECRET_KEY) as http:
        assert put(http, [item("a")]).status_code == 200


def test_invalid_items_refuse_the_whole_request_with_each_index(admin: httpx.Client) -> None:
    body = {
        "items": [
            item("ok-1"),
            item("bad-price", price=-1),
            {"id": "no-title"},
            item("ok-2"),
            item("bad-type", type="service"),
            "not an object",
        ]
    }
    response = put(admin, body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "catalog.invalid_item"
    assert "nothing was saved" in error["message"]
    assert "4 of 6" in error["message"]
    by_index = {entry["index"]: entry for entry in error["details"]["errors"]}
    assert sorted(by_index) == [1, 2, 4, 5]
    assert by_index[1]["id"] == "bad-price"
    assert by_index[1]["problems"][0]["field"] == "price"
    assert by_index[2]["problems"] == [{"field": "title", "message": "Field required"}]
    assert by_index[4]["problems"][0]["field"] == "type"
    assert by_index[5]["problems"][0]["message"] == "an item must be a JSON object"
    assert all_ids(admin) == []  # all or nothing: the valid items were not saved either


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("currency", "EURO"),
        ("url", "javascript:alert(1)"),
        ("image", "data:image/png;base64,AAAA"),
        ("stock", -1),
        ("stock", 1.5),
        ("title", "x" * 1001),
        ("id", "a\nb"),
        ("language", "not a language"),
        ("tags", "a,b"),
        ("attributes", {"blob": "x" * 20_000}),
        ("published_at", "yesterday"),
    ],
)
def test_each_field_is_checked(admin: httpx.Client, field: str, value: Any) -> None:
    response = put(admin, [item("a", **{field: value})])
    assert response.status_code == 422, response.text
    problems = response.json()["error"]["details"]["errors"][0]["problems"]
    assert [p["field"] for p in problems] == [field]


def test_extra_fields_are_refused(admin: httpx.Client) -> None:
    response = put(admin, [item("a", created_ms=0, category="Forged")])
    assert response.status_code == 422
    problems = response.json()["error"]["details"]["errors"][0]["problems"]
    assert {p["field"] for p in problems} == {"created_ms", "category"}
    assert all(p["message"].startswith("unknown field") for p in problems)
    assert admin.get("/v1/items/a").status_code == 404


def test_duplicate_ids_in_one_request_are_refused(admin: httpx.Client) -> None:
    response = put(admin, [item("a"), item("b"), item("a", title="again")])
    assert response.status_code == 422
    errors = response.json()["error"]["details"]["errors"]
    assert errors == [
        {"index": 2, "id": "a", "problems": [{"field": "id", "message": "duplicate id: also at index 0"}]}
    ]


def test_more_than_1000_items_is_too_large(admin: httpx.Client) -> None:
    response = put(admin, {"items": [item(f"i{n}") for n in range(1001)]})
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "catalog.too_many_items"
    assert error["details"] == {"limit": 1000, "received": 1001}
    assert all_ids(admin) == []


def test_exactly_1000_items_are_accepted(admin: httpx.Client) -> None:
    response = put(admin, {"items": [item(f"i{n:04d}") for n in range(1000)]})
    assert response.json() == {"created": 1000, "updated": 0}
    assert len(all_ids(admin)) == 1000


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "request.malformed_json"),
        (b'{"item": []}', 400, "catalog.invalid_body"),
        (b'{"items": [], "extra": 1}', 400, "catalog.invalid_body"),
        (b'"items"', 400, "catalog.invalid_body"),
    ],
)
def test_bad_bodies(admin: httpx.Client, body: bytes, status: int, code: str) -> None:
    response = admin.put("/v1/items", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_form_body_is_unsupported(admin: httpx.Client) -> None:
    response = admin.put("/v1/items", data={"items": "x"})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "request.unsupported_media_type"


@pytest.mark.parametrize(
    "path", ["Home > Kitchen > Cups", "Home/Kitchen/Cups", " Home >Kitchen> Cups ", "Home/Kitchen/Cups/"]
)
def test_category_path_string_forms(admin: httpx.Client, path: str) -> None:
    assert put(admin, [item("a", category_path=path)]).status_code == 200
    body = admin.get("/v1/items/a").json()
    assert body["category_path"] == ["Home", "Kitchen", "Cups"]
    assert body["category"] == "Cups"


def test_angle_bracket_wins_over_slash(admin: httpx.Client) -> None:
    put(admin, [item("a", category_path="Clothes > T-shirts/Tops")])
    assert admin.get("/v1/items/a").json()["category_path"] == ["Clothes", "T-shirts/Tops"]


def test_missing_item_is_404(admin: httpx.Client) -> None:
    response = admin.get("/v1/items/nope")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "catalog.item_not_found"
    assert error["details"] == {"id": "nope"}


def test_ids_with_slashes_and_spaces_are_reachable(admin: httpx.Client) -> None:
    put(admin, [item("shoes/red 42")])
    assert admin.get("/v1/items/shoes%2Fred%2042").json()["id"] == "shoes/red 42"
    assert admin.get("/v1/items/shoes/red 42").json()["id"] == "shoes/red 42"


def test_available_defaults_from_stock_and_can_be_forced(admin: httpx.Client) -> None:
    put(
        admin,
        [
            item("no-stock-info"),
            item("in-stock", stock=2),
            item("sold-out", stock=0),
            item("preorder", stock=0, available=True),
            item("withdrawn", stock=5, available=False),
        ],
    )
    available = {i: admin.get(f"/v1/items/{i}").json()["available"] for i in all_ids(admin)}
    assert available == {
        "no-stock-info": True,
        "in-stock": True,
        "sold-out": False,
        "preorder": True,
        "withdrawn": False,
    }


def test_list_filters_and_pagination(admin: httpx.Client) -> None:
    items = [
        item("p1", category_path=["Home", "Kitchen"]),
        item("p2", category_path=["Home", "Kitchen", "Cups"], stock=0),
        item("p3", category_path=["Home", "Garden"]),
        item("p4", category_path=["Homeware"]),
        item("a1", type="article", title="How to brew", category_path=["Blog", "Home"]),
        item("o1", type="offer", category_path=["Home"]),
    ]
    put(admin, items)

    def ids(**params: Any) -> list[str]:
        response = admin.get("/v1/items", params=params)
        assert response.status_code == 200, response.text
        return [entry["id"] for entry in response.json()["items"]]

    assert ids() == ["a1", "o1", "p1", "p2", "p3", "p4"]
    assert ids(type="article") == ["a1"]
    assert ids(category="Home") == ["o1", "p1", "p2", "p3"]  # not Homeware, not Blog > Home
    assert ids(category="Home > Kitchen") == ["p1", "p2"]
    assert ids(category="Home/Kitchen/Cups") == ["p2"]
    assert ids(category="home") == []  # case-sensitive on every backend
    assert ids(available="false") == ["p2"]
    assert ids(available="true", category="Home > Kitchen") == ["p1"]
    assert ids(type="product", category="Home") == ["p1", "p2", "p3"]

    first = admin.get("/v1/items", params={"limit": 4}).json()
    assert [e["id"] for e in first["items"]] == ["a1", "o1", "p1", "p2"]
    assert first["next_after"] == "p2"
    second = admin.get("/v1/items", params={"limit": 4, "after": "p2"}).json()
    assert [e["id"] for e in second["items"]] == ["p3", "p4"]
    assert second["next_after"] is None
    exact = admin.get("/v1/items", params={"limit": 6}).json()
    assert exact["next_after"] is None


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 501}, {"type": "service"}, {"available": "maybe"}]
)
def test_list_refuses_bad_parameters(admin: httpx.Client, params: dict[str, Any]) -> None:
    response = admin.get("/v1/items", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "request.validation_failed"


def test_openapi_declares_the_upsert_body(admin: httpx.Client) -> None:
    spec = admin.get("/openapi.json").json()
    put_op = spec["paths"]["/v1/items"]["put"]
    schema = put_op["requestBody"]["content"]["application/json"]["schema"]
    item_schema = schema["oneOf"][1]["items"]
    assert item_schema["required"] == ["id", "title"]
    assert item_schema["additionalProperties"] is False


def test_declared_oversized_body_is_refused_before_reading(server: LiveServer) -> None:
    # httpx will not send a Content-Length it cannot honour: speak HTTP/1.1 by hand
    from surmesure.catalog.api import MAX_BODY_BYTES

    request = (
        f"PUT /v1/items HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {SECRET_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n[]"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request.encode())
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert orjson.loads(body)["error"]["code"] == "catalog.body_too_large"
