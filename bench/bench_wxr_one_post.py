"""Memory of reading one WordPress post with many comments: the reader alone, traced.

A post's comments are all inside its ``<item>``; a reader that handles the item only at its
end tag holds every comment of the post at once. This prints the peak traced memory of
reading bench_import's WXR export written as one post, for each size, with the Ranklet tree
named by ``--code`` (compare a branch with main):

    python bench/bench_wxr_one_post.py --sizes 2000 20000
    python bench/bench_wxr_one_post.py --sizes 2000 20000 --code /work/main
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import tracemalloc
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--code", default=str(BENCH.parent), help="the Ranklet tree to read with")
    args = parser.parse_args()
    sys.path[:0] = [args.code, str(BENCH)]
    import bench_import

    from service.transfer.wordpress import read_wordpress

    with tempfile.TemporaryDirectory(prefix="ranklet-wxr-") as work:
        for size in args.sizes:
            bench_import.PER_THREAD = size  # one post holds them all
            path = Path(work) / f"{size}.xml"
            bench_import.write_wxr(path, size)
            tracemalloc.start()
            items = sum(1 for _ in read_wordpress(str(path)).items)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            print(
                f"{size:>7} comments in one post, {path.stat().st_size / 2**20:6.1f} MiB file:"
                f" peak {peak / 2**20:7.1f} MiB traced ({items} items read)"
            )


if __name__ == "__main__":
    main()
