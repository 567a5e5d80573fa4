-- The shop's role and database on a fresh primary, and the role replicas connect as:
--
--   sudo -u postgres psql -v ON_ERROR_STOP=1 -v password='…' \
--       -v replication_password='…' -f deploy/postgresql/create-database.sql
--
-- The shop's role owns its database, so that `manage.py migrate` may create tables in its
-- public schema (since PostgreSQL 15 only the owner may); it is no superuser and makes no
-- other database or role. `-v role=…` and `-v database=…` change the names (both `shop`);
-- without `replication_password` no replication role is made (the tests' way).

\if :{?role}
\else
\set role shop
\endif
\if :{?database}
\else
\set database shop
\endif

CREATE ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
CREATE DATABASE :"database" OWNER :"role" ENCODING 'UTF8' TEMPLATE template0;
-- Nobody else connects to it (PUBLIC may, by default).
REVOKE CONNECT, TEMPORARY ON DATABASE :"database" FROM PUBLIC;

\if :{?replication_password}
CREATE ROLE replicator LOGIN REPLICATION PASSWORD :'replication_password';
\endif
