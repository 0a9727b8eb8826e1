"""The store: one DuckDB file holding every QA pair, request, embedding, map and run.

`store.connect(db)` for one operation, `store.transaction(db)` for all-or-nothing writes,
`store.query_df(sql, params, path=db)` for a data frame. The schema and its migrations live in
`store.schema` (the one place with DDL), run records in `store.runs`, datasets in
`store.datasets`. The ground floor: imports only paths, config and errors.
"""

from univar.paths import Db
from univar.store.connection import (
    check_store,
    connect,
    kept_open,
    query_df,
    rollback,
    schema_version,
    transaction,
    write_lock,
)
from univar.store.schema import NotAStoreError, StoreError

__all__ = [
    "Db",
    "NotAStoreError",
    "StoreError",
    "check_store",
    "connect",
    "kept_open",
    "query_df",
    "rollback",
    "schema_version",
    "transaction",
    "write_lock",
]
