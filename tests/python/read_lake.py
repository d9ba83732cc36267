"""Reads a sluice lake the way users' tools do, and prints what they see as
JSON: per table, the row count and schema from the `deltalake` package's
Arrow dataset of the table's latest version, the row count DuckDB counts
over that dataset, and the number of distinct `event_id`s when the table
has the column. (A plain Parquet glob over a table's folder would be wrong:
it would count files no commit names, and files compaction replaced.)

usage: read_lake.py LAKE TABLE...
"""

import json
import sys

import duckdb
from deltalake import DeltaTable


def main() -> None:
    lake, tables = sys.argv[1], sys.argv[2:]
    out = {}
    con = duckdb.connect()
    for table in tables:
        delta = DeltaTable(f"{lake}/{table}")
        dataset = delta.to_pyarrow_dataset()
        schema = {field.name: str(field.type) for field in dataset.schema}
        con.register("t", dataset)
        (duck_rows,) = con.execute("select count(*) from t").fetchall()[0]
        distinct = None
        if "event_id" in schema:
            (distinct,) = con.execute("select count(distinct event_id) from t").fetchall()[0]
        con.unregister("t")
        out[table] = {
            "pyarrow_rows": dataset.count_rows(),
            "duckdb_rows": duck_rows,
            "distinct_event_ids": distinct,
            "version": delta.version(),
            "schema": schema,
        }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
