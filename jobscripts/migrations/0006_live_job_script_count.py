"""The count of each owner's live job scripts (``LiveJobScriptCount``), kept by triggers, filled from the rows."""

from django.db import migrations, models

TABLE = "jobscripts_jobscript"
COUNT = "jobscripts_live_count"

POSTGRESQL = [
    f"""CREATE FUNCTION {COUNT}_keep() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'TRUNCATE' THEN
            DELETE FROM {COUNT};
            RETURN NULL;
        END IF;
        IF TG_OP <> 'INSERT' AND NOT OLD.is_archived THEN
            UPDATE {COUNT} SET live = live - 1 WHERE owner_email = OLD.owner_email;
        END IF;
        IF TG_OP <> 'DELETE' AND NOT NEW.is_archived THEN
            INSERT INTO {COUNT} (owner_email, live) VALUES (NEW.owner_email, 1)
            ON CONFLICT (owner_email) DO UPDATE SET live = {COUNT}.live + 1;
        END IF;
        RETURN NULL;
    END $$""",
    f"""CREATE TRIGGER {COUNT}_rows AFTER INSERT OR DELETE ON {TABLE}
        FOR EACH ROW EXECUTE FUNCTION {COUNT}_keep()""",
    f"""CREATE TRIGGER {COUNT}_changes AFTER UPDATE OF owner_email, is_archived ON {TABLE}
        FOR EACH ROW WHEN (OLD.owner_email IS DISTINCT FROM NEW.owner_email
                           OR OLD.is_archived IS DISTINCT FROM NEW.is_archived)
        EXECUTE FUNCTION {COUNT}_keep()""",
    f"CREATE TRIGGER {COUNT}_truncate AFTER TRUNCATE ON {TABLE} FOR EACH STATEMENT EXECUTE FUNCTION {COUNT}_keep()",
]
POSTGRESQL_DROP = [
    f"DROP TRIGGER IF EXISTS {COUNT}_rows ON {TABLE}",
    f"DROP TRIGGER IF EXISTS {COUNT}_changes ON {TABLE}",
    f"DROP TRIGGER IF EXISTS {COUNT}_truncate ON {TABLE}",
    f"DROP FUNCTION IF EXISTS {COUNT}_keep()",
]

SQLITE = [
    f"""CREATE TRIGGER {COUNT}_insert AFTER INSERT ON {TABLE} WHEN NOT NEW.is_archived BEGIN
        INSERT INTO {COUNT} (owner_email, live) VALUES (NEW.owner_email, 1)
        ON CONFLICT (owner_email) DO UPDATE SET live = live + 1;
    END""",
    f"""CREATE TRIGGER {COUNT}_delete AFTER DELETE ON {TABLE} WHEN NOT OLD.is_archived BEGIN
        UPDATE {COUNT} SET live = live - 1 WHERE owner_email = OLD.owner_email;
    END""",
    f"""CREATE TRIGGER {COUNT}_update AFTER UPDATE OF owner_email, is_archived ON {TABLE}
        WHEN OLD.owner_email IS NOT NEW.owner_email OR OLD.is_archived IS NOT NEW.is_archived BEGIN
        UPDATE {COUNT} SET live = live - 1 WHERE owner_email = OLD.owner_email AND NOT OLD.is_archived;
        INSERT INTO {COUNT} (owner_email, live) SELECT NEW.owner_email, 1 WHERE NOT NEW.is_archived
        ON CONFLICT (owner_email) DO UPDATE SET live = live + 1;
    END""",
]
SQLITE_DROP = [f"DROP TRIGGER IF EXISTS {COUNT}_{name}" for name in ("insert", "delete", "update")]

FILL = f"""INSERT INTO {COUNT} (owner_email, live)
    SELECT owner_email, COUNT(*) FROM {TABLE} WHERE NOT is_archived GROUP BY owner_email"""


def statements(schema_editor, *, forwards: bool) -> list[str]:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        return [*POSTGRESQL, FILL] if forwards else POSTGRESQL_DROP
    if vendor == "sqlite":
        return [*SQLITE, FILL] if forwards else SQLITE_DROP
    raise NotImplementedError(f"No triggers for {vendor}: add them here to keep LiveJobScriptCount")


def keep_counts(apps, schema_editor):
    for sql in statements(schema_editor, forwards=True):
        schema_editor.execute(sql, params=None)


def stop_keeping_counts(apps, schema_editor):
    for sql in statements(schema_editor, forwards=False):
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [("jobscripts", "0005_job_script_owner_live")]

    operations = [
        migrations.CreateModel(
            name="LiveJobScriptCount",
            fields=[
                ("owner_email", models.CharField(max_length=255, primary_key=True, serialize=False)),
                ("live", models.IntegerField(default=0)),
            ],
            options={"db_table": "jobscripts_live_count"},
        ),
        migrations.RunPython(keep_counts, stop_keeping_counts),
    ]
