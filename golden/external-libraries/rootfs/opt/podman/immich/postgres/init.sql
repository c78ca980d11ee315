-- Rendered by immich-render. Do not edit: change the configuration and render again.
--
-- Prepares the host PostgreSQL for Immich without making Immich a
-- superuser: the role, the database it owns, and the extensions Immich's
-- migrations need, which only a superuser can create.
-- Idempotent: immich-db-init.service runs it on every start of Immich,
-- as the postgres superuser through the local socket:
--   psql -v ON_ERROR_STOP=1 -X -q -f /opt/podman/immich/postgres/init.sql
-- The password is stored as a SCRAM-SHA-256 verifier; this file does not
-- contain it.

\set ON_ERROR_STOP on
SET client_min_messages = warning;

-- Taking superuser from the role that runs this file would lock the
-- server's administrator out.
DO $guard$
BEGIN
  IF current_user = 'immich' THEN
    RAISE EXCEPTION 'init.sql must not run as %, the role it restricts: run it as another superuser such as postgres', current_user;
  END IF;
END
$guard$;

-- The role: created when missing, then given exactly these attributes and
-- this password on every run, whatever was changed by hand.
SELECT 'CREATE ROLE "immich"'
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'immich')\gexec
ALTER ROLE "immich" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  VALID UNTIL 'infinity'
  PASSWORD 'SCRAM-SHA-256$4096:ZhciNlOLsPC1rm/eNvZLiA==$OMlJLcgP5TGRTresnjdyDtZ05Ys+9E5IqAuVsVyK27o=:PMa/RxvT82LrcHRQPbySvbOrmGogw8I7hXjYOS/KC2A=';

-- The database, owned by the role. CREATE DATABASE cannot run in a
-- transaction or a DO block, hence \gexec.
SELECT 'CREATE DATABASE "immich" OWNER "immich"'
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = 'immich')\gexec
ALTER DATABASE "immich" OWNER TO "immich";
-- Other roles of this shared server may not even connect to it.
REVOKE ALL ON DATABASE "immich" FROM PUBLIC;

\connect -reuse-previous=on "dbname='immich'"
SET client_min_messages = warning;

-- Extensions Immich needs in its database. ALTER EXTENSION ... UPDATE moves
-- each to the version of the installed package after an upgrade, which
-- Immich cannot do without superuser.
CREATE EXTENSION IF NOT EXISTS "vector" CASCADE;
CREATE EXTENSION IF NOT EXISTS "vchord" CASCADE;
CREATE EXTENSION IF NOT EXISTS "cube" CASCADE;
CREATE EXTENSION IF NOT EXISTS "earthdistance" CASCADE;
CREATE EXTENSION IF NOT EXISTS "unaccent" CASCADE;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp" CASCADE;
CREATE EXTENSION IF NOT EXISTS "pg_trgm" CASCADE;
ALTER EXTENSION "vector" UPDATE;
ALTER EXTENSION "vchord" UPDATE;
ALTER EXTENSION "cube" UPDATE;
ALTER EXTENSION "earthdistance" UPDATE;
ALTER EXTENSION "unaccent" UPDATE;
ALTER EXTENSION "uuid-ossp" UPDATE;
ALTER EXTENSION "pg_trgm" UPDATE;

-- Immich creates its tables in the public schema.
ALTER SCHEMA "public" OWNER TO "immich";
