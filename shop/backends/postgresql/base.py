"""Django's PostgreSQL backend, except that a failure to connect is `DatabaseUnavailable`.

psycopg raises the same `OperationalError` for a server that refuses or never answers a
connection as for a connection lost in the middle of a query; only where the connection
is made can the two be told apart, so that is where the first gets its own type. The API
then answers it 503 with `Retry-After` (`shop.error_responses`): nothing was read or written.
"""

from django.db.backends.postgresql import base

from shop.errors import DatabaseUnavailable


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        try:
            return super().get_new_connection(conn_params)
        except self.Database.OperationalError as error:
            raise DatabaseUnavailable() from error
