"""Renders deploy/nginx/shop.conf.template into an nginx.conf, for the tests and for hosts alike.

    python deploy/nginx/render.py --listen 0.0.0.0:80 --prefix /var/lib/shop-nginx \\
        --upstream 10.0.0.11:8000 --upstream 10.0.0.12:8000 > /etc/shop/nginx.conf
    nginx -p /var/lib/shop-nginx/ -e /var/lib/shop-nginx/logs/error.log -c /etc/shop/nginx.conf

Placeholders are `{{name}}` (nginx's own `$variables` and `${...}` stay as they are).
Every placeholder must be given a value and every value must have a placeholder, so
the template and its renderer cannot drift apart silently.
"""

import argparse
import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "shop.conf.template"
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
# Directories under the prefix that nginx expects to exist (it makes the temp_path leaves).
PREFIX_DIRS = ("logs", "temp")


def upstream_lines(upstreams):
    """`server` lines of the upstream block; each item is an address and optional parameters."""
    if not upstreams:
        raise ValueError("at least one upstream (a gunicorn instance) is needed")
    return "\n".join(f"        server {upstream};" for upstream in upstreams)


def render(*, listen, upstreams, prefix, user="www-data", template=TEMPLATE):
    """The nginx.conf text: nginx on `listen` in front of `upstreams`, its files under `prefix`.

    `user` is who nginx's workers run as when it is started as root.
    """
    values = {
        "listen": listen,
        "upstream_servers": upstream_lines(upstreams),
        "prefix": str(Path(prefix).resolve()),
        "user": user,
    }
    text = Path(template).read_text()
    wanted = set(PLACEHOLDER.findall(text))
    if wanted != set(values):
        raise ValueError(f"placeholders {sorted(wanted)} do not match values {sorted(values)}")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def prepare_prefix(prefix):
    """Makes the directories the rendered configuration writes to (logs, temp files)."""
    for name in PREFIX_DIRS:
        Path(prefix, name).mkdir(parents=True, exist_ok=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="address:port nginx listens on")
    parser.add_argument(
        "--upstream",
        action="append",
        required=True,
        help="a gunicorn instance, host:port [parameters]; repeat for each instance",
    )
    parser.add_argument("--prefix", required=True, help="nginx's directory: pid, logs, temp")
    parser.add_argument("--user", default="www-data", help="the workers' user (nginx as root)")
    parser.add_argument("--output", help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    prepare_prefix(args.prefix)
    text = render(listen=args.listen, upstreams=args.upstream, prefix=args.prefix, user=args.user)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
