-- Wake-ups across processes (lib/db/wake.ts). A notification reads: sender kind [sandbox id].
-- The sender is the application_name of the writing connection (sandboxer/PID), so a process skips
-- its own. Kind s with the id when events of a sandbox are stored, t for team notices, o when an
-- operation is queued (claimable). Sent at commit, once per distinct payload in a transaction, and
-- not at all for a rolled-back write. Statement-level triggers: one call per statement, not per row.

CREATE FUNCTION "sandboxer_wake_events"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  sender text := coalesce(nullif(current_setting('application_name', true), ''), '-');
  sid text;
BEGIN
  FOR sid IN SELECT DISTINCT "sandboxId" FROM new_rows WHERE "sandboxId" IS NOT NULL LOOP
    PERFORM pg_notify('sandboxer_wake', sender || ' s ' || sid);
  END LOOP;
  IF EXISTS (SELECT 1 FROM new_rows WHERE "type" = 'team') THEN
    PERFORM pg_notify('sandboxer_wake', sender || ' t');
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER "Event_wake" AFTER INSERT ON "Event"
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "sandboxer_wake_events"();

-- Only rows queued afterwards: heartbeats, claims and ends of running operations wake no one.
CREATE FUNCTION "sandboxer_wake_operations"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM new_rows WHERE "state" = 'queued') THEN
    PERFORM pg_notify('sandboxer_wake', coalesce(nullif(current_setting('application_name', true), ''), '-') || ' o');
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER "Operation_wake_insert" AFTER INSERT ON "Operation"
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "sandboxer_wake_operations"();

CREATE TRIGGER "Operation_wake_update" AFTER UPDATE ON "Operation"
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "sandboxer_wake_operations"();
