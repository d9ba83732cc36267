"""Reads a sluice lake the way users' tools do, and prints what they see as
JSON: per table, the row count and schema from pyarrow's Hive-partitioned
dataset, and the row count from DuckDB's read_parquet.

usage: read_lake.py LAKE TABLE...
"""

import json
import sys

import duckdb
import pyarrow.dataset as ds


def main() -> None:
    lake, tables = sys.argv[1], sys.argv[2:]
    out = {}
    con = duckdb.connect()
    for table in tables:
        dataset = ds.dataset(f"{lake}/{table}", format="parquet", partitioning="hive")
        schema = {field.name: str(field.type) for field in dataset.schema}
        (duck_rows,) = con.execute(
            "select count(*) from read_parquet(?, hive_partitioning = true)",
            [f"{lake}/{table}/**/*.parquet"],
        ).fetchone()
        out[table] = {
            "pyarrow_rows": dataset.count_rows(),
            "duckdb_rows": duck_rows,
            "schema": schema,
        }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
