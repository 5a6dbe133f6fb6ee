CREATE OR REPLACE VIEW "lifecycle".models WITH (security_invoker = true) AS
SELECT
    m."id" AS id,
    CAST(m."type" AS text) AS provider,
    CAST(m."name" AS text) AS name,
    CAST(m."name" AS text) AS display_name,
    m."team_id" AS team_id,
    NULL::text AS litellm_model,
    CAST(m."max_token_limit" AS integer) AS token_limit,
    false AS supports_vision,
    false AS supports_tools,
    false AS supports_reasoning,
    NULL::integer AS security_level,
    CAST(m."deprecated" AS boolean) AS deprecated,
    (SELECT s.deprecation_date FROM "lifecycle".model_state s WHERE s.model_id = m."id") AS deprecation_date,
    (SELECT s.deprecation_source FROM "lifecycle".model_state s WHERE s.model_id = m."id") AS deprecation_source,
    (SELECT s.replacement_model_id FROM "lifecycle".model_state s WHERE s.model_id = m."id") AS replacement_model_id,
    (SELECT s.migrated_to_model_id FROM "lifecycle".model_state s WHERE s.model_id = m."id") AS migrated_to_model_id,
    (SELECT s.deleted_at FROM "lifecycle".model_state s WHERE s.model_id = m."id") AS deleted_at,
    CAST(m."created_at" AS timestamptz) AS created_at,
    CAST(m."updated_at" AS timestamptz) AS updated_at
FROM "public"."service_providers_llmprovidermodel" m;

DROP TRIGGER IF EXISTS models_write ON "lifecycle".models;

DROP FUNCTION IF EXISTS "lifecycle".models_write();

CREATE OR REPLACE FUNCTION "lifecycle".models_write()
RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM "public"."service_providers_llmprovidermodel" WHERE "id" = OLD.id;
        DELETE FROM "lifecycle".model_state WHERE model_id = OLD.id;
        UPDATE "lifecycle".model_state SET replacement_model_id = NULL
        WHERE replacement_model_id = OLD.id;
        RETURN OLD;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO "public"."service_providers_llmprovidermodel" ("type", "name", "team_id", "max_token_limit", "deprecated", "created_at", "updated_at")
        VALUES (NEW.provider, NEW.name, NEW.team_id, NEW.token_limit, COALESCE(NEW.deprecated, false), COALESCE(NEW.created_at, now()), COALESCE(NEW.updated_at, now()))
        RETURNING "id" INTO NEW.id;
    ELSE
        UPDATE "public"."service_providers_llmprovidermodel" SET
            "type" = NEW.provider,
            "name" = NEW.name,
            "team_id" = NEW.team_id,
            "max_token_limit" = NEW.token_limit,
            "deprecated" = COALESCE(NEW.deprecated, false),
            "created_at" = COALESCE(NEW.created_at, now()),
            "updated_at" = COALESCE(NEW.updated_at, now())
        WHERE "id" = OLD.id;
    END IF;
    INSERT INTO "lifecycle".model_state (model_id, deprecation_date, deprecation_source, replacement_model_id, migrated_to_model_id, deleted_at)
    VALUES (NEW.id, NEW.deprecation_date, NEW.deprecation_source, NEW.replacement_model_id, NEW.migrated_to_model_id, NEW.deleted_at)
    ON CONFLICT (model_id) DO UPDATE SET deprecation_date = EXCLUDED.deprecation_date, deprecation_source = EXCLUDED.deprecation_source, replacement_model_id = EXCLUDED.replacement_model_id, migrated_to_model_id = EXCLUDED.migrated_to_model_id, deleted_at = EXCLUDED.deleted_at, updated_at = now();
    RETURN NEW;
END
$body$;

CREATE TRIGGER models_write INSTEAD OF INSERT OR UPDATE OR DELETE ON "lifecycle".models FOR EACH ROW EXECUTE FUNCTION "lifecycle".models_write();

COMMENT ON VIEW "lifecycle".models IS 'lifecycle models view 32b7b8d6882fe8eb';
