"""Fixtures of the hardening tests: fresh token clients, and servers in real processes."""

import pytest
from django.db import connection
from knox.models import AuthToken
from rest_framework.test import APIClient

from shop.tests.servers import Server


def token_client(user):
    """An API client with a token of its own (so revoking it touches no other client)."""
    client = APIClient()
    if user is not None:
        _, token = AuthToken.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def token_for(user):
    return AuthToken.objects.create(user=user)[1]


def database_url():
    """The test database as a URL, for a subprocess (transactional tests only: data committed)."""
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
    host = f"{s['HOST'] or 'localhost'}:{s['PORT'] or 5432}"
    return f"postgres://{s['USER']}{password}@{host}/{s['NAME']}"


@pytest.fixture
def server_process(postgres_only):
    """Starts servers on demand (`server_process(workers=…)`); kills them all at the end."""
    servers = []

    def start(**options):
        server = Server(database_url(), **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.kill()
