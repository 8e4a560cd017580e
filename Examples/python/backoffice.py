#!/usr/bin/env python3
"""A shop's back office on a P2PDB node: sales reports and a live stock watch.

    export P2PDB_URL=http://127.0.0.1:7070 P2PDB_TOKEN=$(p2pdb token --data register-1)
    python3 Examples/python/backoffice.py report          # units and takings per item
    python3 Examples/python/backoffice.py low-stock 5     # items with fewer than 5 left
    python3 Examples/python/backoffice.py watch           # every sale as it syncs in

It expects the README's `items` table and a table of sales:
    items (sku TEXT PRIMARY KEY, name TEXT, price REAL, stock COUNTER INTEGER NOT NULL DEFAULT 0)
    sales (id TEXT PRIMARY KEY DEFAULT (uuid()), sku TEXT, qty INTEGER, price REAL)
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from p2pdb_client import Client, P2PDBError  # noqa: E402


def report(node, _arguments):
    rows = node.query(
        "SELECT sku, sum(qty), sum(qty * price) FROM sales GROUP BY sku ORDER BY sku")
    print(f"{'item':<16}{'units':>8}{'takings':>12}")
    for sku, units, takings in rows:
        print(f"{sku:<16}{units:>8}{takings:>12.2f}")
    total = sum(row[2] or 0 for row in rows)
    print(f"{'total':<16}{'':>8}{total:>12.2f}")


def low_stock(node, arguments):
    for sku, name, stock in node.query("SELECT sku, name, stock FROM items WHERE stock < ? ORDER BY stock, sku", [arguments.below]):
        print(f"{sku} ({name}): {stock} left")


def watch(node, arguments):
    seen = 0
    for event in node.changes(table="sales", include_rows=True, since_beginning=arguments.from_start):
        for change in event["changes"]:
            row = change.get("row")
            if change["op"] == "insert" and row:
                print(f"sale {row['id']}: {row['qty']} x {row['sku']} at {row['price']}", flush=True)
        seen += 1
        if arguments.count and seen >= arguments.count:
            return


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("P2PDB_URL", "http://127.0.0.1:7070"))
    parser.add_argument("--token", default=os.environ.get("P2PDB_TOKEN"))
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("report").set_defaults(run=report)
    low = commands.add_parser("low-stock")
    low.add_argument("below", type=int)
    low.set_defaults(run=low_stock)
    follow = commands.add_parser("watch")
    follow.add_argument("--from-start", action="store_true", help="replay every sale since the first entry")
    follow.add_argument("--count", type=int, help="stop after this many entries")
    follow.set_defaults(run=watch)
    arguments = parser.parse_args()
    if not arguments.token:
        parser.error("give --token or set P2PDB_TOKEN (see `p2pdb token --data DIR`)")
    try:
        arguments.run(Client(arguments.url, arguments.token), arguments)
    except P2PDBError as error:
        print(f"backoffice: {error}", file=sys.stderr)
        sys.exit(1)
    except OSError as error:
        print(f"backoffice: cannot reach the node at {arguments.url}: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
