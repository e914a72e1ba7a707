"""Seed an Isso 0.14 SQLite database with the bench plan, through Isso's own db classes.

Run with the Python of Isso's virtual environment (bench/.venv-isso), never the project's:

    bench/.venv-isso/bin/python bench/isso/seed_isso.py ISSO_CFG PLAN_JSON

``isso.db.SQLite3`` creates Isso's schema (the same code Isso runs when it starts), then
every thread and comment of the plan is added with ``threads.new`` and ``comments.add``,
with mode 1 (accepted) and the plan's timestamps and reply structure. Prints one JSON
object: {"threads": N, "comments": N, "isso": VERSION}.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version

from isso import config
from isso.db import SQLite3


def main(config_path: str, plan_path: str) -> int:
    conf = config.load(config.default_file(), config_path)
    db = SQLite3(conf.get("general", "dbpath"), conf)
    with open(plan_path, encoding="utf-8") as handle:
        plan = json.load(handle)
    comments = 0
    threads = 0
    for thread in plan["threads"]:
        if not thread["comments"]:
            continue  # Isso, like Ranklet, has a thread only once it has a comment
        db.threads.new(thread["article"], thread["title"])
        threads += 1
        ids: dict[int, int] = {}
        for comment in thread["comments"]:
            parent = comment["parent"]
            stored = db.comments.add(
                thread["article"],
                {
                    "parent": None if parent is None else ids[parent],
                    "created": comment["created"],
                    "mode": 1,
                    "remote_addr": comment["address"],
                    "text": comment["body"],
                    "author": comment["author"],
                    "email": None,
                    "website": None,
                    "notification": 0,
                },
            )
            ids[comment["key"]] = stored["id"]
            comments += 1
    print(json.dumps({"threads": threads, "comments": comments, "isso": version("isso")}))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
