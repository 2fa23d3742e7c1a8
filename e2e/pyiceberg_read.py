"""Reads an Iceberg table through pyiceberg's SQL catalog and prints its
order_id column as JSON: {"rows": N, "ids": [...]} (the ids sorted).

Usage: pyiceberg_read.py CATALOG_URI S3_ENDPOINT ACCESS_KEY SECRET_KEY NAMESPACE.TABLE
"""
import json
import sys

from pyiceberg.catalog.sql import SqlCatalog

uri, endpoint, key, secret, ident = sys.argv[1:6]
catalog = SqlCatalog(
    "hydrant",
    uri=uri,
    **{
        "s3.endpoint": endpoint,
        "s3.access-key-id": key,
        "s3.secret-access-key": secret,
        "s3.region": "us-east-1",
        "init_catalog_tables": "false",
    },
)
table = catalog.load_table(ident)
ids = table.scan(selected_fields=("order_id",)).to_arrow().column("order_id").to_pylist()
print(json.dumps({"rows": len(ids), "ids": sorted(ids)}))
