"""Settings for the benchmarks: the project's own, with the baselines of bench/urls.py routed."""

from shop.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
