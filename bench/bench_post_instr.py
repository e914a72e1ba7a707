"""Instructions a comment post costs, counted by valgrind's callgrind: code trees side by side.

``bench_post_cpu.py`` measures CPU time, which on this machine kind moves by half when the
host is busy (the same code gave 1.6 and 3.4 ms a post within an hour). An instruction
count does not move with the host: the same code, database and posts give the same count
to a few parts in a thousand, whatever else runs. So a change too small to see in CPU time
(a few per cent) can still be measured, on a busy machine.

Each code tree runs ``bench_post_cpu``'s own work in a child under ``valgrind
--tool=callgrind``: the same fresh SQLite database seeded with the bench's plan, the same
warm-up posts, then ``--posts`` posts through the WSGI app. Counting is switched on
(``callgrind_control -i on``) only around those posts. It prints instructions per post
for each tree and each one's ratio to the first::

    python bench/bench_post_instr.py --code old=/path/to/other/checkout --code new=.

Instructions are not time (a cache miss costs more than an add): confirm a gain found here
with ``bench_post_cpu.py`` or a served bench on a quiet machine. A run takes a few minutes a
tree (the seed runs under valgrind too, uncounted).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from bench_post_cpu import post_loop, seeded_app

HERE = Path(__file__).resolve()
REPO = HERE.parent.parent


def child(posts: int, warmup: int) -> int:
    """Seed, warm up, then count ``posts`` posts (run by the parent under callgrind)."""
    with seeded_app(None, "postinstr") as (app, _seeded):
        tag = uuid.uuid4().hex[:6]
        post_loop(app, warmup, f"w{tag}")
        _count("on")
        post_loop(app, posts, tag)
        _count("off")
    return 0


def _count(state: str) -> None:
    subprocess.run(
        ["callgrind_control", "-i", state, str(os.getpid())], check=True, capture_output=True
    )


def instructions(code: Path, posts: int, warmup: int, out: Path) -> int:
    """Instructions counted in a child running ``code``'s service."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed (apt-get install -y valgrind)")
    env = dict(os.environ, PYTHONPATH=str(code), PYTHONHASHSEED="0")
    command = [
        valgrind,
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        sys.executable,  # the interpreter itself: a pyenv shim would be a shell script
        str(HERE),
        "--child",
        "--posts",
        str(posts),
        "--warmup",
        str(warmup),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{code}: the child failed\n{done.stderr[-3000:]}")
    for line in out.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise SystemExit(f"{code}: no totals in {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--code",
        action="append",
        metavar="NAME=PATH",
        help="a code tree (repeat to compare; default: this checkout)",
    )
    parser.add_argument("--posts", type=int, default=200, help="counted posts (default 200)")
    parser.add_argument("--warmup", type=int, default=50, help="uncounted posts first")
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="keep each tree's callgrind output here (DIR/callgrind.NAME), for callgrind_annotate",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.posts, args.warmup)
    codes = [item.partition("=")[::2] for item in (args.code or [f"this={REPO}"])]
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="postinstr-out") as scratch:
        for name, path in codes:
            tree = Path(path).resolve()
            total = instructions(tree, args.posts, args.warmup, Path(scratch) / name)
            results[name] = total / args.posts
            if args.keep:
                Path(args.keep).mkdir(parents=True, exist_ok=True)
                shutil.copy(Path(scratch) / name, Path(args.keep) / f"callgrind.{name}")
            print(f"{name}: {results[name]:,.0f} instructions a post ({path})", flush=True)
    first = next(iter(results.values()))
    for name, per_post in results.items():
        print(f"{name} / {codes[0][0]}: {per_post / first:.3f}")
    print(json.dumps({"posts": args.posts, "instructions_per_post": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
