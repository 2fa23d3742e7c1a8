"""Reads an Iceberg table through pyiceberg and prints its order_id column as
JSON: {"rows": N, "ids": [...]} (the ids sorted). The catalog is a REST
catalog (pyiceberg's RestCatalog) when CATALOG_URI is an http:// or https://
URL, else a SQL catalog (SqlCatalog) on that SQLAlchemy URI; either way the
files are read from S3_ENDPOINT with the given keys.

Usage: pyiceberg_read.py CATALOG_URI S3_ENDPOINT ACCESS_KEY SECRET_KEY NAMESPACE.TABLE
"""
import json
import sys

uri, endpoint, key, secret, ident = sys.argv[1:6]
s3 = {
    "s3.endpoint": endpoint,
    "s3.access-key-id": key,
    "s3.secret-access-key": secret,
    "s3.region": "us-east-1",
}
if uri.startswith(("http://", "https://")):
    from pyiceberg.catalog.rest import RestCatalog

    catalog = RestCatalog("hydrant", uri=uri, **s3)
else:
    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog("hydrant", uri=uri, **s3, init_catalog_tables="false")
table = catalog.load_table(ident)
ids = table.scan(selected_fields=("order_id",)).to_arrow().column("order_id").to_pylist()
print(json.dumps({"rows": len(ids), "ids": sorted(ids)}))
