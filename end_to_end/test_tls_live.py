"""PostgreSQL only: HTTPS as deploy/README.md sets it up, with the production settings.

gunicorn runs with `DJANGO_DEBUG=0` and the HTTPS redirect on, behind nginx rendered
from deploy/nginx/ with a self-signed certificate made for the test:

- over HTTPS the API answers 200, with one HSTS header and https links; plain HTTP is
  redirected to HTTPS by nginx; only TLS 1.2 and 1.3 are spoken;
- behind a TLS-ending front proxy (nginx on plain HTTP, `--trusted-proxy`): the proxy's
  `X-Forwarded-Proto: https` is believed (no redirect loop) and so is its
  `X-Forwarded-For` (the rate limits key on the client it names); nobody else's are.
"""

import http.client
import json
import ssl
import uuid
import warnings

import pytest
from django.db import connection

from end_to_end.conftest import BEHIND_PROXY, ON_SQLITE, database_url, token_for
from end_to_end.servers import Server, load_nginx_renderer, nginx_binary

pytestmark = pytest.mark.django_db(transaction=True)

RATE = 3  # password checks per minute, per client address (and per account)
PRODUCTION = {
    **BEHIND_PROXY,
    "DJANGO_SECURE_SSL_REDIRECT": "1",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SHOP_TOKEN_RATE": f"{RATE}/minute",
}
FRONT_PROXY, ELSEWHERE = "127.0.0.2", "127.0.0.3"


@pytest.fixture(scope="module")
def server(django_db_setup):
    if connection.vendor != "postgresql":
        pytest.skip(ON_SQLITE)
    if nginx_binary() is None:
        pytest.skip("live test: no nginx (apt-get install nginx-light)")
    # Probed on /healthz: with the HTTPS redirect on, every other plain-HTTP path is a 301.
    started = Server(database_url(), workers=1, threads=8, ready_path="/healthz", env=PRODUCTION)
    yield started
    started.kill()


@pytest.fixture
def tls_proxy(server, nginx_proxy, tls_certificate):
    return nginx_proxy(server, tls=tls_certificate)


@pytest.fixture
def behind_front_proxy(server, nginx_proxy):
    return nginx_proxy(server, trusted_proxies=[FRONT_PROXY])


def https(port, certificate, method, path, *, headers=None, context=None):
    """One request over TLS, checking the certificate: (status, header pairs, body, TLS version)."""
    context = context or ssl.create_default_context(cafile=str(certificate))
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=context)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        version = connection.sock.version()
    finally:
        connection.close()
    return response.status, response.getheaders(), body, version


def plain(port, method, path, *, headers=None, body=None, source="127.0.0.1"):
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=30, source_address=(source, 0)
    )
    try:
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


def named(headers, name):
    return [value for key, value in headers if key.lower() == name.lower()]


def test_https_through_nginx_answers_200_with_one_hsts_header_and_https_links(
    tls_proxy, tls_certificate, staff
):
    cert, _ = tls_certificate
    status, headers, body, version = https(tls_proxy.tls_port, cert, "GET", "/")

    assert status == 200, body
    index = json.loads(body)
    assert index["users"] == f"https://127.0.0.1:{tls_proxy.tls_port}/users"
    assert named(headers, "Strict-Transport-Security") == [load_nginx_renderer().DEFAULT_HSTS]
    assert version == "TLSv1.3"

    token = {"Authorization": f"Token {token_for(staff)}"}
    status, headers, body, _ = https(tls_proxy.tls_port, cert, "GET", "/users", headers=token)
    assert status == 200, body
    assert [user["email"] for user in json.loads(body)] == [staff.email]
    assert len(named(headers, "Strict-Transport-Security")) == 1


def test_plain_http_is_redirected_to_https(tls_proxy):
    for method in ("GET", "POST"):
        status, headers, _ = plain(tls_proxy.port, method, "/users?page=2")
        assert status == 301
        assert headers["location"] == f"https://127.0.0.1:{tls_proxy.tls_port}/users?page=2"
        assert "strict-transport-security" not in headers, "HSTS is for HTTPS answers only"


def test_only_tls_1_2_and_1_3_are_spoken(tls_proxy, tls_certificate):
    cert, _ = tls_certificate
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        context = ssl.create_default_context(cafile=str(cert))
        context.minimum_version = context.maximum_version = version
        status, _, _, spoken = https(tls_proxy.tls_port, cert, "GET", "/", context=context)
        assert (status, spoken) == (200, version.name.replace("v1_", "v1."))

    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(cafile=str(cert))
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # the client would speak TLS 1.1; nginx must not
    with warnings.catch_warnings(category=DeprecationWarning, action="ignore"):
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError) as refused:
        https(tls_proxy.tls_port, cert, "GET", "/", context=old)
    # nginx's "protocol version" alert (not a handshake failure, nor the client's own refusal).
    assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", refused.value


def test_a_trusted_front_proxys_https_is_believed_and_does_not_loop(behind_front_proxy):
    port = behind_front_proxy.port
    proto = {"X-Forwarded-Proto": "https"}

    status, _, body = plain(port, "GET", "/", headers=proto, source=FRONT_PROXY)
    assert status == 200, body
    assert json.loads(body)["users"] == f"https://127.0.0.1:{port}/users"

    # Plain HTTP at the front proxy is Django's to redirect to HTTPS, once.
    status, headers, _ = plain(port, "GET", "/users", source=FRONT_PROXY)
    assert status == 301 and headers["location"] == f"https://127.0.0.1:{port}/users"
    # The same header from anyone else is not believed.
    status, headers, _ = plain(port, "GET", "/users", headers=proto, source=ELSEWHERE)
    assert status == 301


def token_attempt(port, source, forwarded_for):
    # An account of its own each time: the limit per account must not be the one that bites.
    body = json.dumps({"email": f"{uuid.uuid4().hex}@example.com", "password": "not it"})
    headers = {
        "Content-Type": "application/json",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": forwarded_for,
    }
    return plain(port, "POST", "/auth/token", headers=headers, body=body, source=source)[0]


def test_a_trusted_front_proxys_client_address_is_believed_and_no_one_elses(behind_front_proxy):
    """The password checks (3 a minute) count per client: the one the front proxy names,
    or the address itself for anyone else, whatever X-Forwarded-For they make up."""
    port = behind_front_proxy.port

    # The front proxy appends the client it saw; what the client claimed before is ignored.
    first = [
        token_attempt(port, FRONT_PROXY, f"203.0.113.{n}, 198.51.100.1") for n in range(RATE + 1)
    ]
    second = token_attempt(port, FRONT_PROXY, "198.51.100.2")
    # From elsewhere: redirected (its https is not believed), and counted as itself.
    elsewhere = [token_attempt(port, ELSEWHERE, f"198.51.100.{10 + n}") for n in range(RATE + 1)]

    assert first == [400] * RATE + [429]
    assert second == 400, "another client behind the front proxy has a count of its own"
    assert elsewhere == [301] * (RATE + 1)


def test_the_rendered_file_can_be_rendered_again_with_an_instance_down(tls_proxy, tmp_path):
    renderer = load_nginx_renderer()
    again = tmp_path / "again.conf"
    upstream = renderer.recorded_arguments(tls_proxy.config_path)["upstreams"][0]

    source = str(tls_proxy.config_path)
    renderer.main(["--from", source, "--down", upstream, "--output", str(again)])

    assert renderer.down_upstreams(again) == [upstream]
    assert renderer.recorded_arguments(again) == renderer.recorded_arguments(tls_proxy.config_path)
    renderer.main(["--from", str(again), "--output", str(again)])
    assert renderer.down_upstreams(again) == []
    assert again.read_text() == tls_proxy.config
