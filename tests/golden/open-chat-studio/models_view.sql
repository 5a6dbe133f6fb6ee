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
        UPDATE "public"."service_providers_llmprovidermodel" AS h SET
            "type" = CASE WHEN NEW.provider IS NOT DISTINCT FROM OLD.provider THEN h."type" ELSE NEW.provider END,
            "name" = CASE WHEN NEW.name IS NOT DISTINCT FROM OLD.name THEN h."name" ELSE NEW.name END,
            "team_id" = CASE WHEN NEW.team_id IS NOT DISTINCT FROM OLD.team_id THEN h."team_id" ELSE NEW.team_id END,
            "max_token_limit" = CASE WHEN NEW.token_limit IS NOT DISTINCT FROM OLD.token_limit THEN h."max_token_limit" ELSE NEW.token_limit END,
            "deprecated" = CASE WHEN NEW.deprecated IS NOT DISTINCT FROM OLD.deprecated THEN h."deprecated" ELSE COALESCE(NEW.deprecated, false) END,
            "created_at" = CASE WHEN NEW.created_at IS NOT DISTINCT FROM OLD.created_at THEN h."created_at" ELSE COALESCE(NEW.created_at, now()) END,
            "updated_at" = CASE WHEN NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN h."updated_at" ELSE COALESCE(NEW.updated_at, now()) END
        WHERE h."id" = OLD.id;
    END IF;
    INSERT INTO "lifecycle".model_state AS s (model_id, deprecation_date, deprecation_source, replacement_model_id, migrated_to_model_id, deleted_at)
    VALUES (NEW.id, NEW.deprecation_date, NEW.deprecation_source, NEW.replacement_model_id, NEW.migrated_to_model_id, NEW.deleted_at)
    ON CONFLICT (model_id) DO UPDATE SET
        deprecation_date = CASE WHEN TG_OP = 'UPDATE' AND NEW.deprecation_date IS NOT DISTINCT FROM OLD.deprecation_date THEN s.deprecation_date ELSE EXCLUDED.deprecation_date END,
        deprecation_source = CASE WHEN TG_OP = 'UPDATE' AND NEW.deprecation_source IS NOT DISTINCT FROM OLD.deprecation_source THEN s.deprecation_source ELSE EXCLUDED.deprecation_source END,
        replacement_model_id = CASE WHEN TG_OP = 'UPDATE' AND NEW.replacement_model_id IS NOT DISTINCT FROM OLD.replacement_model_id THEN s.replacement_model_id ELSE EXCLUDED.replacement_model_id END,
        migrated_to_model_id = CASE WHEN TG_OP = 'UPDATE' AND NEW.migrated_to_model_id IS NOT DISTINCT FROM OLD.migrated_to_model_id THEN s.migrated_to_model_id ELSE EXCLUDED.migrated_to_model_id END,
        deleted_at = CASE WHEN TG_OP = 'UPDATE' AND NEW.deleted_at IS NOT DISTINCT FROM OLD.deleted_at THEN s.deleted_at ELSE EXCLUDED.deleted_at END,
        updated_at = now();
    RETURN NEW;
END
$body$;

CREATE TRIGGER models_write INSTEAD OF INSERT OR UPDATE OR DELETE ON "lifecycle".models FOR EACH ROW EXECUTE FUNCTION "lifecycle".models_write();

COMMENT ON VIEW "lifecycle".models IS 'lifecycle models view 2bee8d6baa82ac5c';
