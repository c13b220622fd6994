-- A destroy (or an admin) asking a running operation to stop wakes the process running it at once
-- (lib/db/wake.ts, kind c with the operation's id) instead of at its next cancel poll. Fires only when
-- "cancelRequested" is in the UPDATE's SET list and turns true on a running row: heartbeats, claims
-- and ends of operations never reach the WHEN clause's true branch. Sent at commit, like the others.

CREATE FUNCTION "sandboxer_wake_cancel"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('sandboxer_wake', coalesce(nullif(current_setting('application_name', true), ''), '-') || ' c ' || NEW."id");
  RETURN NULL;
END
$$;

CREATE TRIGGER "Operation_wake_cancel" AFTER UPDATE OF "cancelRequested" ON "Operation"
  FOR EACH ROW
  WHEN (NEW."cancelRequested" AND NOT OLD."cancelRequested" AND NEW."state" = 'running')
  EXECUTE FUNCTION "sandboxer_wake_cancel"();
