"""The dataset loaders, on tiny files written here in the datasets' own formats (never
the real data), and the events-file loader in each format it reads."""

from __future__ import annotations

import gzip
import json
import lzma
from pathlib import Path

import numpy as np
import pytest

from surmesure.errors import NotFound
from surmesure.recommendations.datasets import (
    ENV_VAR,
    datasets_root,
    load_dataset,
    load_dunnhumby,
    load_events,
    load_uci_online_retail,
)
from surmesure.recommendations.evaluate import leave_last_out

UCI = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom
536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850,United Kingdom
536365,POST,POSTAGE,1,2010-12-01 08:26:00,18.0,17850,United Kingdom
536366,71053,WHITE METAL LANTERN,2,2010-12-02 09:00:00,3.39,12583,France
C536367,71053,WHITE METAL LANTERN,-2,2010-12-03 10:00:00,3.39,12583,France
536368,22633,HAND WARMER UNION JACK,3,2010-12-04 11:00:00,1.85,,United Kingdom
536369,22633,HAND WARMER UNION JACK,-1,2010-12-04 11:00:00,1.85,12583,France
536370,22633,HAND WARMER UNION JACK,1,2010-12-05 12:30:00,1.85,12583,France
"""

TRANSACTIONS = (
    (
        "household_id,store_id,basket_id,product_id,quantity,sales_value,retail_disc,"
        "coupon_disc,coupon_match_disc,week,transaction_timestamp\n"
    )
    + """7,309,100,11,1,3.86,0.43,0.0,0.0,5,2017-01-28T19:06:53Z
7,309,100,12,2,1.59,0.9,0.0,0.0,5,2017-01-28T19:06:53Z
7,310,101,13,1,1.0,0.69,0.0,0.0,6,2017-02-03T10:00:00Z
9,388,102,11,1,11.87,2.9,0.0,0.0,8,2017-02-18T18:13:10Z
9,388,103,14,0,0.0,0.0,0.0,0.0,8,2017-02-18T18:14:00Z
"""
)

PRODUCTS = """product_id,manufacturer_id,department,brand,product_category,product_type,package_size
11,2,GROCERY,National,FRZN ICE,ICE,22 LB
12,69,PASTRY,Private,BREAD,BREAD:ITALIAN,
13,69,GROCERY,Private,,,
14,1,GROCERY,National,SOUP,SOUP,
99,1,DRUG GM,National,CANDY,CANDY,
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    uci = tmp_path / "uci-online-retail"
    uci.mkdir()
    with lzma.open(uci / "online_retail.csv.xz", "wt", encoding="utf-8") as handle:
        handle.write(UCI)
    dh = tmp_path / "dunnhumby-completejourney-sample" / "csv"
    dh.mkdir(parents=True)
    for name, text in (("transactions_sample", TRANSACTIONS), ("products", PRODUCTS)):
        with gzip.open(dh / f"{name}.csv.gz", "wt", encoding="utf-8") as handle:
            handle.write(text)
    return tmp_path


def test_the_root_is_the_path_given_else_the_environment(root: Path, tmp_path: Path) -> None:
    assert datasets_root(root) == root
    assert datasets_root(environ={ENV_VAR: str(root)}) == root
    with pytest.raises(NotFound):
        datasets_root(environ={})
    with pytest.raises(NotFound):
        datasets_root(tmp_path / "nowhere")


def test_uci_keeps_clean_purchases_of_known_customers(root: Path) -> None:
    data = load_uci_online_retail(root)
    d = data.interactions
    assert data.user_ids == ["12583", "17850"]
    assert data.item_ids == ["22633", "71053", "85123A"]  # no POST, sorted
    assert len(d) == 4
    pairs = sorted(zip(d.user.tolist(), d.item.tolist(), strict=True))
    assert pairs == [(0, 0), (0, 1), (1, 1), (1, 2)]
    assert data.item_names == [
        "HAND WARMER UNION JACK",
        "WHITE METAL LANTERN",
        "WHITE HANGING HEART T-LIGHT HOLDER",
    ]
    first = int(np.datetime64("2010-12-01T08:26:00", "ms").astype(np.int64))
    assert d.time_ms.min() == first
    assert d.basket is not None
    assert len(set(d.basket.tolist())) == 3  # 536365, 536366, 536370
    assert data.item_categories is None
    assert d.weight.tolist() == [1.0] * 4


def test_uci_options_keep_postage_and_weigh_by_quantity(root: Path) -> None:
    data = load_uci_online_retail(root, drop_non_products=False, weight="quantity")
    assert "POST" in data.item_ids
    lantern = data.item_ids.index("71053")
    weights = data.interactions.weight[data.interactions.item == lantern]
    assert sorted(weights.tolist()) == pytest.approx([np.log2(3), np.log2(7)])


def test_dunnhumby_reads_receipts_with_product_categories(root: Path) -> None:
    data = load_dataset("dunnhumby-completejourney-sample", root)
    d = data.interactions
    assert data.user_ids == ["7", "9"]
    assert data.item_ids == ["11", "12", "13"]  # 14 only had quantity 0
    assert len(d) == 4
    assert data.category_names == ["BREAD", "FRZN ICE"]
    assert data.item_categories is not None
    assert data.item_categories.tolist() == [1, 0, -1]
    assert d.basket is not None
    split = leave_last_out(d, unit="basket")
    assert split.users.tolist() == [0]  # household 9 has one line only
    assert split.test[0].indices.tolist() == [2]
    departments = load_dunnhumby(root, category="department")
    assert departments.category_names == ["GROCERY", "PASTRY"]


def test_an_unknown_dataset_or_a_missing_file_is_not_found(root: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        load_dataset("movielens", root)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NotFound):
        load_uci_online_retail(empty)


# -- events files ------------------------------------------------------------------------------

EVENTS = [
    {
        "type": "track",
        "event": "Product Viewed",
        "anonymousId": "a1",
        "timestamp": "2024-05-01T10:00:00Z",
        "properties": {"product_id": "p1"},
    },
    {
        "type": "track",
        "event": "Product Added",
        "userId": "u1",
        "anonymousId": "a1",
        "timestamp": "2024-05-01T10:05:00+02:00",
        "properties": {"product_id": "p2"},
    },
    {
        "type": "track",
        "event": "Order Completed",
        "userId": "u1",
        "timestamp": 1714557600000,
        "properties": {"products": [{"product_id": "p2", "quantity": 2}, {"product_id": 7}]},
    },
    {"type": "page", "name": "Home", "anonymousId": "a1", "timestamp": "2024-05-01T09:00:00Z"},
    {"type": "track", "event": "Product Viewed", "anonymousId": "a2", "properties": {"product_id": "p1"}},
    {"type": "track", "event": "Product Viewed", "userId": "u2", "timestamp": "2024-05-01T11:00:00"},
]


def _check_events(data_path: Path) -> None:
    data = load_events(data_path)
    d = data.interactions
    assert data.user_ids == ["a1", "u1"]
    assert data.item_ids == ["7", "p1", "p2"]
    assert data.kinds is not None
    by_kind = sorted(zip(data.kinds.tolist(), d.weight.tolist(), strict=True))
    assert by_kind == [
        ("Order Completed", 5.0),
        ("Order Completed", 5.0),
        ("Product Added", 3.0),
        ("Product Viewed", 1.0),
    ]
    view = int(np.flatnonzero(data.kinds == "Product Viewed")[0])
    added = int(np.flatnonzero(data.kinds == "Product Added")[0])
    assert d.time_ms[view] == int(np.datetime64("2024-05-01T10:00:00", "ms").astype(np.int64))
    assert d.time_ms[added] == int(np.datetime64("2024-05-01T08:05:00", "ms").astype(np.int64))
    assert data.skipped == {"not a product event": 1, "no readable timestamp": 1, "no product_id": 1}


def test_events_from_json_lines_with_a_batch_envelope(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [json.dumps(e) for e in EVENTS[:3]] + [json.dumps({"batch": EVENTS[3:]}), ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    _check_events(path)


def test_events_from_a_json_array_gzipped(tmp_path: Path) -> None:
    path = tmp_path / "events.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump(EVENTS, handle)
    _check_events(path)


def test_events_from_csv_with_dotted_and_json_columns(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    header = "type,event,userId,anonymousId,timestamp,properties.product_id,properties.products,properties\n"
    rows = [
        "track,Product Viewed,,a1,2024-05-01T10:00:00Z,p1,,\n",
        'track,Product Added,u1,a1,2024-05-01T10:05:00+02:00,,,"{""product_id"": ""p2""}"\n',
        'track,Order Completed,u1,,1714557600000,,"[{""product_id"": ""p2""}, {""product_id"": 7}]",\n',
        "page,,,a1,2024-05-01T09:00:00Z,,,\n",
        "track,Product Viewed,,a2,,p1,,\n",
        "track,Product Viewed,u2,,2024-05-01T11:00:00,,,\n",
    ]
    path.write_text(header + "".join(rows), encoding="utf-8")
    _check_events(path)


def test_events_weights_are_configurable_and_bad_lines_counted(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    path.write_text(json.dumps(EVENTS[0]) + "\n{not json\n", encoding="utf-8")
    data = load_events(path, weights={"Product Viewed": 0.5})
    assert data.interactions.weight.tolist() == [0.5]
    assert data.skipped == {"not valid JSON": 1}
    with pytest.raises(NotFound):
        load_events(tmp_path / "missing.jsonl")
