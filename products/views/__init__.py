"""The products API, one module per concern.

- `catalogue`: the products themselves;
- `backfill`: the CSV backfill over HTTP (the old service's `GET`, uploads);
- `runs`: the history of backfill runs, and cancelling one.
"""
