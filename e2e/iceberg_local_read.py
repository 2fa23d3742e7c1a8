"""Reads an Iceberg table in a SQLite catalog with local files, twice: through
pyiceberg's scan, and with DuckDB's read_parquet over the data files that the
table's current snapshot lists (pyiceberg's inspect.files). Prints
{"pyiceberg": {COLUMN: [...]}, "duckdb": {COLUMN: [...]}}, each column's values
in id order.

Usage: iceberg_local_read.py SQLITE_FILE NAMESPACE.TABLE ID_COLUMN [COLUMN...]
"""
import json
import sys

import duckdb
from pyiceberg.catalog.sql import SqlCatalog

path, ident, id_col, *more = sys.argv[1:]
cols = [id_col, *more]
catalog = SqlCatalog("hydrant", uri="sqlite:///" + path, init_catalog_tables="false")
table = catalog.load_table(ident)

scan = table.scan().to_arrow().sort_by(id_col)
py = {c: scan.column(c).to_pylist() for c in cols}

files = [f.removeprefix("file://") for f in table.inspect.files().column("file_path").to_pylist()]
if files:
    # union_by_name: files written before a column was added lack it (null).
    q = "SELECT {} FROM read_parquet(?, union_by_name = true) ORDER BY {}".format(
        ", ".join('"{}"'.format(c) for c in cols), '"{}"'.format(id_col))
    rows = duckdb.connect().execute(q, [files]).fetchall()
else:
    rows = []
dk = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
print(json.dumps({"pyiceberg": py, "duckdb": dk}))
