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

-- Immich v3.1.0 refuses to start on PostgreSQL before 14 or with
-- VectorChord outside >= 0.3 and < 2 (server/src/constants.ts since v3.0.0).
-- Checked before anything changes: the unit fails with the reason instead.
DO $ranges$
DECLARE
  v text;
  n int[];
BEGIN
  IF pg_catalog.current_setting('server_version_num')::int < 140000 THEN
    RAISE EXCEPTION 'Immich v3.1.0 needs PostgreSQL 14 or newer, and this server is PostgreSQL %: upgrade it first',
      pg_catalog.current_setting('server_version');
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_available_extensions WHERE name = 'vector') THEN
    RAISE EXCEPTION 'pgvector (extension vector) is not installed on this server, and Immich v3.1.0 needs it: install its package for this PostgreSQL version';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_available_extensions WHERE name = 'vchord') THEN
    RAISE EXCEPTION 'VectorChord (extension vchord) is not installed on this server, and Immich v3.1.0 needs it: install its package for this PostgreSQL version';
  END IF;
  SELECT default_version INTO v FROM pg_catalog.pg_available_extensions WHERE name = 'vchord';
  n := pg_catalog.string_to_array(pg_catalog.substring(v, '^[0-9]+(?:[.][0-9]+)*'), '.')::int[];
  IF n IS NULL OR n < ARRAY[0, 3] OR n >= ARRAY[2] THEN
    RAISE EXCEPTION 'Immich v3.1.0 needs VectorChord (extension vchord) >= 0.3 and < 2, and this server has %: install a version in that range before deploying this Immich version', v;
  END IF;
END
$ranges$;

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
-- The versions before the update. Immich rebuilds its vector indexes only
-- when it sees a vector extension change, which it never does after this.
CREATE TEMPORARY TABLE "immich_render_extversion" AS
  SELECT extname, extversion FROM pg_catalog.pg_extension;
ALTER EXTENSION "vector" UPDATE;
ALTER EXTENSION "vchord" UPDATE;
ALTER EXTENSION "cube" UPDATE;
ALTER EXTENSION "earthdistance" UPDATE;
ALTER EXTENSION "unaccent" UPDATE;
ALTER EXTENSION "uuid-ossp" UPDATE;
ALTER EXTENSION "pg_trgm" UPDATE;

-- After a vector extension changed, rebuild Immich's vector indexes (those
-- that exist), as Immich's documentation requires.
DO $reindex_note$
DECLARE
  c record;
BEGIN
  FOR c IN SELECT e.extname, o.extversion AS was, e.extversion AS now FROM pg_catalog.pg_extension e JOIN "immich_render_extversion" o USING (extname)
  WHERE e.extname IN ('vector', 'vchord') AND e.extversion <> o.extversion ORDER BY e.extname LOOP
    RAISE WARNING '% changed from % to %: rebuilding Immich''s vector indexes', c.extname, c.was, c.now;
  END LOOP;
END
$reindex_note$;
SELECT 'REINDEX INDEX ' || i.oid::pg_catalog.regclass::text
FROM (VALUES (0, 'public.face_index'), (1, 'public.clip_index')) AS w(n, name)
JOIN pg_catalog.pg_class i ON i.oid = pg_catalog.to_regclass(w.name)
WHERE EXISTS (SELECT FROM pg_catalog.pg_extension e JOIN "immich_render_extversion" o USING (extname)
  WHERE e.extname IN ('vector', 'vchord') AND e.extversion <> o.extversion)
ORDER BY w.n\gexec

-- Immich creates its tables in the public schema.
ALTER SCHEMA "public" OWNER TO "immich";
