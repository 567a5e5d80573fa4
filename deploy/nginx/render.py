"""Renders deploy/nginx/shop.conf.template into an nginx.conf, for the tests and for hosts alike.

    python3 deploy/nginx/render.py --listen 0.0.0.0:80 --tls-listen 0.0.0.0:443 \\
        --tls-cert /etc/shop/tls/fullchain.pem --tls-key /etc/shop/tls/privkey.pem \\
        --prefix /var/lib/shop-nginx --upstream 10.0.0.11:8001 --upstream 10.0.0.12:8001 \\
        --output /etc/shop/nginx.conf
    nginx -p /var/lib/shop-nginx/ -e /var/lib/shop-nginx/logs/error.log -c /etc/shop/nginx.conf

With `--tls-listen`, nginx ends TLS there (with HSTS) and plain HTTP on `--listen` only
redirects to it. Without, it serves plain HTTP on `--listen`: behind a front proxy that
ends TLS, named with `--trusted-proxy` so that its X-Forwarded-Proto and X-Forwarded-For
are believed (no one else's are).

The rendered file records its arguments in its first lines, so that it can be rendered
again with instances taken out (`--down`, as deploy/release.py does) or put back:

    python3 deploy/nginx/render.py --from /etc/shop/nginx.conf --down 10.0.0.11:8001

Placeholders are `{{name}}` (nginx's own `$variables` and `${...}` stay as they are).
Every placeholder must be given a value and every value must have a placeholder, so
the template and its renderer cannot drift apart silently.
"""

import argparse
import ipaddress
import json
import os
import re
import sys
import tempfile
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "shop.conf.template"
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
# Directories under the prefix that nginx expects to exist (it makes the temp_path leaves);
# `acme` is the web root of ACME http-01 challenges (certbot --webroot) in TLS mode.
PREFIX_DIRS = ("logs", "temp", "acme")
# HSTS, sent by nginx in TLS mode (Django's own copy is dropped, so that there is one).
DEFAULT_HSTS = "max-age=31536000; includeSubDomains"
# The line of a rendered file that records its arguments (`--from`).
ARGUMENTS_MARK = "# render.py arguments: "


def upstream_address(upstream):
    """An upstream's address, without its nginx parameters: "10.0.0.11:8001 max_fails=3"."""
    return upstream.split()[0]


def upstream_lines(upstreams, down=()):
    """`server` lines of the upstream block; each item is an address and optional parameters."""
    if not upstreams:
        raise ValueError("at least one upstream (a gunicorn instance) is needed")
    addresses = [upstream_address(upstream) for upstream in upstreams]
    unknown = set(down) - set(addresses)
    if unknown:
        raise ValueError(f"--down names no upstream: {sorted(unknown)}")
    lines = []
    for upstream, address in zip(upstreams, addresses, strict=True):
        marked = f"{upstream} down" if address in down else upstream
        lines.append(f"        server {marked};")
    return "\n".join(lines)


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def listen_directives(listen, tls):
    if tls is None:
        return f"        listen {listen} default_server;"
    return "\n".join(
        [
            f"        listen {tls['listen']} ssl http2 default_server;",
            f"        ssl_certificate {tls['cert']};",
            f"        ssl_certificate_key {tls['key']};",
            *(
                [
                    "        proxy_hide_header Strict-Transport-Security;",
                    f'        add_header Strict-Transport-Security "{tls["hsts"]}" always;',
                ]
                if tls["hsts"]
                else []
            ),
        ]
    )


def redirect_server(listen, tls, prefix):
    """In TLS mode, the plain-HTTP server: ACME challenges, and a redirect for all the rest."""
    if tls is None:
        return ""
    port = port_of(tls["listen"])
    to = "https://$host" + ("" if port == 443 else f":{port}") + "$request_uri"
    return f"""    # Plain HTTP only redirects to HTTPS, but for ACME's http-01 challenges (certbot
    # certonly --webroot -w {prefix}/acme).
    server {{
        listen {listen} default_server;
        server_name _;
        location ^~ /.well-known/acme-challenge/ {{
            root {prefix}/acme;
        }}
        location / {{
            return 301 {to};
        }}
    }}
"""


def trusted_networks(trusted_proxies):
    # Normalised and checked here: nginx would refuse a typo only when it is (re)loaded.
    return [str(ipaddress.ip_network(proxy, strict=False)) for proxy in trusted_proxies]


def render(
    *,
    listen,
    upstreams,
    prefix,
    user="www-data",
    tls_listen=None,
    tls_cert=None,
    tls_key=None,
    hsts=DEFAULT_HSTS,
    trusted_proxies=(),
    down=(),
    template=TEMPLATE,
):
    """The nginx.conf text: nginx on `listen` (and `tls_listen`) in front of `upstreams`.

    Its files live under `prefix`; `user` is who nginx's workers run as when it is started
    as root; `down` lists upstream addresses that get no new request.
    """
    tls_given = [tls_listen, tls_cert, tls_key]
    if any(tls_given) and not all(tls_given):
        raise ValueError("--tls-listen, --tls-cert and --tls-key go together")
    prefix = str(Path(prefix).resolve())
    tls = None
    if tls_listen:
        tls = {
            "listen": tls_listen,
            "cert": str(Path(tls_cert).resolve()),
            "key": str(Path(tls_key).resolve()),
            "hsts": hsts,
        }
    networks = trusted_networks(trusted_proxies)
    values = {
        "listen_directives": listen_directives(listen, tls),
        "redirect_server": redirect_server(listen, tls, prefix),
        "upstream_servers": upstream_lines(upstreams, down),
        "set_real_ip_from": "\n".join(f"    set_real_ip_from {net};" for net in networks),
        "trusted_proxy_addresses": "\n".join(f"        {net} 1;" for net in networks),
        "prefix": prefix,
        "user": user,
    }
    text = Path(template).read_text()
    wanted = set(PLACEHOLDER.findall(text))
    if wanted != set(values):
        raise ValueError(f"placeholders {sorted(wanted)} do not match values {sorted(values)}")
    arguments = {
        "listen": listen,
        "upstreams": list(upstreams),
        "prefix": prefix,
        "user": user,
        "tls_listen": tls_listen,
        "tls_cert": tls and tls["cert"],
        "tls_key": tls and tls["key"],
        "hsts": hsts,
        "trusted_proxies": networks,
    }
    header = (
        "# Rendered by deploy/nginx/render.py; render it again with `render.py --from THIS_FILE`.\n"
        f"{ARGUMENTS_MARK}{json.dumps(arguments)}\n"
    )
    return header + PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def recorded_arguments(path):
    """The arguments a rendered file was made with (its `render.py arguments:` line)."""
    for line in Path(path).read_text().splitlines():
        if line.startswith(ARGUMENTS_MARK):
            return json.loads(line[len(ARGUMENTS_MARK) :])
    raise ValueError(f"{path} was not rendered by render.py (no '{ARGUMENTS_MARK.strip()}' line)")


def down_upstreams(path):
    """The upstream addresses a rendered file marks `down`."""
    text = Path(path).read_text()
    return re.findall(r"^\s*server\s+(\S+)[^;]*\sdown;", text, re.MULTILINE)


def prepare_prefix(prefix):
    """Makes the directories the rendered configuration writes to (logs, temp files)."""
    for name in PREFIX_DIRS:
        Path(prefix, name).mkdir(parents=True, exist_ok=True)


def write(text, output):
    """Writes `output` whole or not at all (nginx may read it at any moment)."""
    output = Path(output)
    with tempfile.NamedTemporaryFile("w", dir=output.parent, delete=False) as file:
        file.write(text)
    os.chmod(file.name, 0o644)
    os.replace(file.name, output)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--from", dest="source", help="render again with a file's arguments")
    parser.add_argument("--listen", help="address:port of plain HTTP (only redirects with TLS)")
    parser.add_argument("--tls-listen", help="address:port where nginx ends TLS")
    parser.add_argument("--tls-cert", help="the certificate chain (PEM) for --tls-listen")
    parser.add_argument("--tls-key", help="its private key (PEM)")
    parser.add_argument(
        "--hsts", default=DEFAULT_HSTS, help=f"HSTS with TLS ('' for none): {DEFAULT_HSTS}"
    )
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        help="a front proxy (address or CIDR) whose X-Forwarded-For/-Proto are believed; repeat",
    )
    parser.add_argument(
        "--upstream",
        action="append",
        default=[],
        help="a gunicorn instance, host:port [parameters]; repeat for each instance",
    )
    parser.add_argument(
        "--down",
        action="append",
        default=[],
        help="an upstream address to give no new request (a rolling release); repeat",
    )
    parser.add_argument("--prefix", help="nginx's directory: pid, logs, temp")
    parser.add_argument("--user", default="www-data", help="the workers' user (nginx as root)")
    parser.add_argument("--output", help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    if args.source:
        given = [name for name in ("listen", "tls_listen", "prefix") if getattr(args, name)]
        if given or args.upstream or args.trusted_proxy:
            parser.error("--from takes only --down and --output")
        arguments = recorded_arguments(args.source)
    else:
        if not (args.listen and args.prefix and args.upstream):
            parser.error("--listen, --prefix and --upstream are required (or --from)")
        arguments = {
            "listen": args.listen,
            "upstreams": args.upstream,
            "prefix": args.prefix,
            "user": args.user,
            "tls_listen": args.tls_listen,
            "tls_cert": args.tls_cert,
            "tls_key": args.tls_key,
            "hsts": args.hsts,
            "trusted_proxies": args.trusted_proxy,
        }
    try:
        text = render(**arguments, down=args.down)
    except ValueError as error:
        parser.error(str(error))
    prepare_prefix(arguments["prefix"])
    if args.output:
        write(text, args.output)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
