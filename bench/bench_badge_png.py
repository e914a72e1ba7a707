"""Time PNG badges: rasterizing (cold) against the ETag-keyed cache (warm) and a 304.

Builds an app on a temporary SQLite database with one ranked category, then times
`GET /badge/bench/consulting.png` through Flask's test client, per size and scale:

    python bench/bench_badge_png.py [--repeat 50]

"cold" changes the position before every request, so each one renders (one SVG, one resvg
rasterization); "cached" repeats the same request (the body comes from the response cache);
"304" sends the ETag back.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from service import create_app
from service.sites.settings import SiteSettings, create_site


def timed(call, repeat: int) -> float:
    """Median milliseconds of `repeat` calls."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RANKLET_INSTANCE_PATH"] = f"{tmp}/instance"
        app = create_app(
            {
                "TESTING": True,
                "DATABASE_URL": f"sqlite:///{tmp}/bench.db",
                "SECRET_KEY": "bench",
                "RATELIMIT_STORAGE_URI": "memory://",
                "COMMENT_RATE_LIMIT": "",
                "NOTIFY_WORKER": False,
            }
        )
        with app.app_context():
            from service.core.extensions import db

            db.create_all()  # a throwaway benchmark database, not a production path
            _, token = create_site("bench", SiteSettings(origins=["https://b.example"]))
        client = app.test_client()
        auth = {"Authorization": f"Bearer {token}"}
        position = iter(range(1, 10**6))

        def bump() -> None:
            client.post(
                "/api/v1/sites/bench/rankings",
                json={"positions": {"consulting": next(position)}},
                headers=auth,
            )

        bump()
        print(
            f"{'size':>8} {'scale':>5} {'cold ms':>8} {'cached ms':>9} {'304 ms':>7} {'bytes':>6}"
        )
        for size in (None, "88x31", "110x31", "200x40"):
            for scale in (1, 2, 3):
                query = f"?scale={scale}" + (f"&size={size}" if size else "")
                path = f"/badge/bench/consulting.png{query}"

                def cold(path: str = path) -> None:
                    bump()
                    client.get(path)

                bump_only = timed(bump, args.repeat)
                cold_ms = timed(cold, args.repeat) - bump_only
                body = client.get(path)
                cached_ms = timed(lambda path=path: client.get(path), args.repeat)
                etag = {"If-None-Match": body.headers["ETag"]}
                not_modified = timed(lambda p=path, h=etag: client.get(p, headers=h), args.repeat)
                print(
                    f"{size or 'free':>8} {scale:>5} {cold_ms:>8.2f} {cached_ms:>9.2f} "
                    f"{not_modified:>7.2f} {len(body.get_data()):>6}"
                )


if __name__ == "__main__":
    main()
