"""Settings for the benchmarks: the project's own, with the baselines of bench/urls.py routed.

DRF's own token model is installed here, and only here, for the plain-DRF peer of the
product read (bench/urls.py): the product itself uses knox's tokens.
"""

from shop.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework.authtoken"]  # noqa: F405
