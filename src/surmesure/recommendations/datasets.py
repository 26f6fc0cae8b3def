"""Interaction data for offline evaluation: the public datasets kept beside the
project, and events files in the shape the collector accepts.

The datasets are read where they are (never copied into the project): from the folder
passed in, else from ``$SURMESURE_DATASETS``. Each loader returns a :class:`Dataset`:
:class:`~surmesure.recommendations.evaluate.Interactions` (indices, weights, times in
ms, baskets) with the external ids of its rows and columns and, where the data has
them, item categories.

* ``uci-online-retail`` — invoice lines of a UK gift retailer (2010-12 … 2011-12):
  purchases by known customers, cancellations and non-positive quantities left out;
  ``drop_non_products`` (default) also drops postage, manual lines, carriage, fees
  (stock codes that do not start with a digit). Times are the shop's local times,
  read as UTC. No categories; item names are the descriptions.
* ``dunnhumby-completejourney-sample`` — 75,000 grocery receipt lines (a uniform row
  sample, so histories are fragmentary), lines with quantity 0 left out; categories
  from ``products`` (``product_category`` by default, or ``department``).
* :func:`load_events` — a JSON lines, JSON or CSV file of Segment-shaped events:
  ``Product Viewed`` / ``Product Added`` / ``Order Completed`` (or any name in
  ``weights``) with ``properties.product_id`` or ``properties.products[].product_id``;
  the person is ``userId``, else ``anonymousId`` (no identity resolution here).
"""

from __future__ import annotations

import csv
import gzip
import io
import lzma
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import numpy.typing as npt
import orjson

from surmesure.errors import InvalidInput, NotFound

from .evaluate import Interactions
from .interactions import DEFAULT_WEIGHTS

__all__ = [
    "DATASETS",
    "ENV_VAR",
    "Dataset",
    "datasets_root",
    "events_dataset",
    "load_dataset",
    "load_dunnhumby",
    "load_events",
    "load_uci_online_retail",
]

ENV_VAR = "SURMESURE_DATASETS"
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class Dataset:
    """Interactions with the external ids of their rows (people) and columns (items)."""

    name: str
    interactions: Interactions
    user_ids: list[str]
    item_ids: list[str]
    item_categories: IntArray | None = None  # one per item, -1 when unknown
    category_names: list[str] = field(default_factory=list)
    item_names: list[str] | None = None
    kinds: npt.NDArray[np.str_] | None = None  # the event name of each interaction
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> how many records

    def describe(self) -> str:
        d = self.interactions
        cats = f", {len(self.category_names)} categories" if self.category_names else ""
        return f"{self.name}: {len(d)} interactions, {d.n_users} people, {d.n_items} items{cats}"


def datasets_root(path: str | Path | None = None, *, environ: Mapping[str, str] | None = None) -> Path:
    """The folder holding the datasets: ``path`` if given, else ``$SURMESURE_DATASETS``."""
    env = os.environ if environ is None else environ
    chosen = path if path is not None else env.get(ENV_VAR)
    if not chosen:
        raise NotFound(f"no datasets folder: pass one or set {ENV_VAR} (e.g. ../shared/datasets)")
    root = Path(chosen)
    if not root.is_dir():
        raise NotFound(f"the datasets folder {root} does not exist", path=str(root))
    return root


def _file(root: Path, relative: str) -> Path:
    path = root / relative
    if not path.is_file():
        raise NotFound(f"missing dataset file {path}", path=str(path))
    return path


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".xz":
        return lzma.open(path, "rt", encoding="utf-8", newline="")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open("r", encoding="utf-8-sig", newline="")


def _columns(path: Path, wanted: Iterable[str]) -> dict[str, list[str]]:
    """The ``wanted`` columns of a CSV (plain, .gz or .xz), as lists of strings."""
    names = list(wanted)
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        header = next(reader, None) or []
        missing = [n for n in names if n not in header]
        if missing:
            raise InvalidInput(f"{path.name} lacks the columns {', '.join(missing)}", path=str(path))
        positions = [header.index(n) for n in names]
        out: dict[str, list[str]] = {n: [] for n in names}
        lists = [out[n] for n in names]
        for row in reader:
            if len(row) != len(header):
                continue
            for target, position in zip(lists, positions, strict=True):
                target.append(row[position])
    return out


def _times_ms(texts: npt.ArrayLike) -> IntArray:
    """ISO-8601 times (``2011-01-31 08:00:00``, ``…T…Z``) to ms since the epoch (UTC)."""
    values = np.asarray(texts, dtype=str)
    unique, inverse = np.unique(values, return_inverse=True)
    stripped = np.char.replace(np.char.rstrip(unique, "Z"), " ", "T")
    try:
        parsed = stripped.astype("datetime64[ms]").astype(np.int64)
    except ValueError as error:
        raise InvalidInput(f"unreadable time: {error}") from None
    out: IntArray = parsed[inverse].astype(np.int64)
    return out


def _encode(values: npt.ArrayLike) -> tuple[list[str], IntArray]:
    unique, inverse = np.unique(np.asarray(values, dtype=str), return_inverse=True)
    return unique.tolist(), inverse.astype(np.int64).ravel()


def _purchases(
    cols: Mapping[str, list[str]],
    names: tuple[str, str, str, str, str],
    keep: npt.NDArray[np.bool_],
    weight: Literal["line", "quantity"],
) -> tuple[Interactions, list[str], list[str], IntArray]:
    """Purchase lines kept by ``keep``; ``names``: the person, item, basket, quantity and
    time columns. Returns the interactions, person ids, item ids and each line's item."""
    person, item, basket, quantity, when = (np.asarray(cols[n], dtype=str)[keep] for n in names)
    users, user_idx = _encode(person)
    items, item_idx = _encode(item)
    _, baskets = _encode(basket)
    w = np.ones(user_idx.size) if weight == "line" else np.log2(1.0 + quantity.astype(np.float64))
    data = Interactions(
        user=user_idx,
        item=item_idx,
        weight=w.astype(np.float32),
        time_ms=_times_ms(when),
        n_users=len(users),
        n_items=len(items),
        basket=baskets,
    )
    return data, users, items, item_idx


def load_uci_online_retail(
    root: str | Path | None = None,
    *,
    weight: Literal["line", "quantity"] = "line",
    drop_non_products: bool = True,
) -> Dataset:
    """Purchases of ``uci-online-retail/online_retail.csv.xz``; one interaction per line.

    ``weight="line"`` gives each line 1; ``"quantity"`` gives it ``log2(1 + quantity)``.
    """
    path = _file(datasets_root(root), "uci-online-retail/online_retail.csv.xz")
    cols = _columns(path, ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "CustomerID"])
    invoice = np.asarray(cols["InvoiceNo"], dtype=str)
    code = np.asarray(cols["StockCode"], dtype=str)
    quantity = np.asarray(cols["Quantity"], dtype=np.float64)
    keep = (
        (np.asarray(cols["CustomerID"], dtype=str) != "") & ~np.char.startswith(invoice, "C") & (quantity > 0)
    )
    if drop_non_products:
        keep &= np.char.isdigit(np.char.ljust(code, 1).astype("<U1"))
    data, users, items, item_idx = _purchases(
        cols, ("CustomerID", "StockCode", "InvoiceNo", "Quantity", "InvoiceDate"), keep, weight
    )
    descriptions = np.asarray(cols["Description"], dtype=str)[keep]
    names = [""] * len(items)
    for i, text in zip(item_idx.tolist(), descriptions.tolist(), strict=True):
        if text and not names[i]:
            names[i] = text
    return Dataset("uci-online-retail", data, [str(int(float(u))) for u in users], items, item_names=names)


def load_dunnhumby(
    root: str | Path | None = None,
    *,
    category: Literal["product_category", "department", "brand"] = "product_category",
    weight: Literal["line", "quantity"] = "line",
) -> Dataset:
    """Receipt lines of ``dunnhumby-completejourney-sample`` with product categories."""
    base = datasets_root(root)
    names = ("household_id", "product_id", "basket_id", "quantity", "transaction_timestamp")
    tx = _columns(_file(base, "dunnhumby-completejourney-sample/csv/transactions_sample.csv.gz"), names)
    data, users, items, _ = _purchases(tx, names, np.asarray(tx["quantity"], dtype=np.float64) > 0, weight)
    products = _columns(
        _file(base, "dunnhumby-completejourney-sample/csv/products.csv.gz"), ["product_id", category]
    )
    labels = dict(zip(products["product_id"], products[category], strict=True))
    item_labels = [labels.get(i, "") for i in items]
    category_names = sorted({label for label in item_labels if label})
    position = {name: n for n, name in enumerate(category_names)}
    categories = np.array([position.get(label, -1) for label in item_labels], dtype=np.int64)
    return Dataset(
        "dunnhumby-completejourney-sample",
        data,
        users,
        items,
        item_categories=categories,
        category_names=category_names,
    )


DATASETS: Mapping[str, Callable[..., Dataset]] = {
    "uci-online-retail": load_uci_online_retail,
    "dunnhumby-completejourney-sample": load_dunnhumby,
}


def load_dataset(name: str, root: str | Path | None = None, **options: Any) -> Dataset:
    """One of :data:`DATASETS` by its folder name."""
    if name not in DATASETS:
        raise NotFound(f"unknown dataset {name!r}", known=sorted(DATASETS))
    return DATASETS[name](root, **options)


# -- events files --------------------------------------------------------------------------


def _records(path: Path, skipped: Counter[str]) -> Iterator[dict[str, Any]]:
    """Event objects of a .jsonl/.ndjson, .json or .csv file (each may be gzipped)."""
    name = path.name.lower().removesuffix(".gz")
    compressed = path.name.lower().endswith(".gz")
    with gzip.open(path, "rb") if compressed else path.open("rb") as handle:
        if name.endswith(".csv"):
            text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
            for row in csv.DictReader(text):
                yield _nest(row, skipped)
        elif name.endswith(".json"):
            try:
                whole = orjson.loads(handle.read())
            except orjson.JSONDecodeError as error:
                raise InvalidInput(f"{path.name} is not valid JSON: {error}", path=str(path)) from None
            batch = whole.get("batch", [whole]) if isinstance(whole, dict) else whole
            yield from _objects(batch if isinstance(batch, list) else [batch], skipped)
        else:
            for raw in handle:
                if not raw.strip():
                    continue
                try:
                    value = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    skipped["not valid JSON"] += 1
                    continue
                batch = value.get("batch") if isinstance(value, dict) else None
                yield from _objects(batch if isinstance(batch, list) else [value], skipped)


def _objects(values: Iterable[Any], skipped: Counter[str]) -> Iterator[dict[str, Any]]:
    for value in values:
        if isinstance(value, dict):
            yield value
        else:
            skipped["not a JSON object"] += 1


def _nest(row: Mapping[str, str | None], skipped: Counter[str]) -> dict[str, Any]:
    """A CSV row: ``properties.product_id`` columns nest; a ``properties`` cell is JSON."""
    event: dict[str, Any] = {}
    for key, cell in row.items():
        if not key or cell is None or cell == "":
            continue
        if key in ("properties", "properties.products"):
            try:
                parsed = orjson.loads(cell)
            except orjson.JSONDecodeError:
                skipped[f"{key} is not valid JSON"] += 1
                continue
            if key == "properties" and isinstance(parsed, dict):
                event.setdefault("properties", {}).update(parsed)
            elif key == "properties.products":
                event.setdefault("properties", {})["products"] = parsed
            continue
        target = event
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = cell
    return event


def _event_time_ms(event: Mapping[str, Any]) -> int | None:
    """``timestamp`` (else ``originalTimestamp``, ``sentAt``): ISO-8601 (UTC when it has
    no offset, as the collector reads it) or ms since the epoch."""
    for key in ("timestamp", "originalTimestamp", "sentAt"):
        value = event.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, str) and value:
            if value.isdigit():
                return int(value)
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                return None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return int(moment.timestamp() * 1000)
    return None


def _product_ids(properties: Mapping[str, Any]) -> list[str]:
    products = properties.get("products")
    if isinstance(products, list):
        found = [p.get("product_id") for p in products if isinstance(p, dict)]
    else:
        found = [properties.get("product_id")]
    return [str(p) for p in found if isinstance(p, str | int) and not isinstance(p, bool) and str(p)]


def load_events(path: str | Path, *, weights: Mapping[str, float] = DEFAULT_WEIGHTS) -> Dataset:
    """Interactions from a file of events; an event names one product or several.

    Events whose name is not in ``weights``, without a person, product or readable time,
    are counted in :attr:`Dataset.skipped` by reason, not raised.
    """
    file = Path(path)
    if not file.is_file():
        raise NotFound(f"no such events file: {file}", path=str(file))
    skipped: Counter[str] = Counter()
    return events_dataset(file.name, _records(file, skipped), weights=weights, skipped=skipped)


def events_dataset(
    name: str,
    events: Iterable[Mapping[str, Any]],
    *,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
    skipped: Counter[str] | None = None,
) -> Dataset:
    """Interactions from Segment-shaped event objects (a file's, or the store's)."""
    skipped = Counter() if skipped is None else skipped
    persons: list[str] = []
    products: list[str] = []
    kinds: list[str] = []
    times: list[int] = []
    for event in events:
        kind = event.get("event")
        if event.get("type", "track") != "track" or kind not in weights:
            skipped["not a product event"] += 1
            continue
        person = event.get("userId") or event.get("anonymousId")
        properties = event.get("properties")
        ids = _product_ids(properties) if isinstance(properties, dict) else []
        when = _event_time_ms(event)
        if not person:
            skipped["no userId or anonymousId"] += 1
        elif not ids:
            skipped["no product_id"] += 1
        elif when is None:
            skipped["no readable timestamp"] += 1
        else:
            persons += [str(person)] * len(ids)
            products += ids
            kinds += [str(kind)] * len(ids)
            times += [when] * len(ids)
    users, user_idx = _encode(persons)
    items, item_idx = _encode(products)
    kind_array = np.asarray(kinds, dtype=str)
    data = Interactions(
        user=user_idx,
        item=item_idx,
        weight=np.array([weights[k] for k in kinds], dtype=np.float32),
        time_ms=np.asarray(times, dtype=np.int64),
        n_users=len(users),
        n_items=len(items),
    )
    return Dataset(name, data, users, items, kinds=kind_array, skipped=dict(skipped))
