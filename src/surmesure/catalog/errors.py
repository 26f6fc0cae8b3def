"""Errors of the catalogue.

Each has a stable ``code``, listed in ``docs/errors.md``::

    InvalidInput
    ├── InvalidItem            422  catalog.invalid_item         one or more items refused
    ├── InvalidItemsBody       400  catalog.invalid_body         not ``{"items": [...]}`` nor an array
    ├── TooManyItems           413  catalog.too_many_items       more than 1000 items in one request
    ├── ItemsBodyTooLarge      413  catalog.body_too_large       request body over the byte cap
    ├── UnsupportedImportFormat 422 catalog.unsupported_format   not csv, jsonl or json
    └── InvalidImportFile      422  catalog.invalid_import_file  unreadable header, missing columns
    NotFound
    ├── ItemNotFound           404  catalog.item_not_found
    └── ImportFileNotFound     404  catalog.import_file_not_found
"""

from __future__ import annotations

from surmesure.errors import InvalidInput, NotFound

__all__ = [
    "ImportFileNotFound",
    "InvalidImportFile",
    "InvalidItem",
    "InvalidItemsBody",
    "ItemNotFound",
    "ItemsBodyTooLarge",
    "TooManyItems",
    "UnsupportedImportFormat",
]


class InvalidItem(InvalidInput):
    """Some items of a batch are invalid; ``details.errors`` lists each index and reason."""

    code = "catalog.invalid_item"


class InvalidItemsBody(InvalidInput):
    code = "catalog.invalid_body"
    http_status = 400


class TooManyItems(InvalidInput):
    code = "catalog.too_many_items"
    http_status = 413


class ItemsBodyTooLarge(InvalidInput):
    code = "catalog.body_too_large"
    http_status = 413


class UnsupportedImportFormat(InvalidInput):
    code = "catalog.unsupported_format"


class InvalidImportFile(InvalidInput):
    code = "catalog.invalid_import_file"


class ItemNotFound(NotFound):
    code = "catalog.item_not_found"


class ImportFileNotFound(NotFound):
    code = "catalog.import_file_not_found"
