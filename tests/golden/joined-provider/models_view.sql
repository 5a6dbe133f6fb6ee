CREATE OR REPLACE VIEW "lifecycle".models WITH (security_invoker = true) AS
SELECT
    m."id" AS id,
    CAST((SELECT j."kind" FROM "public"."ai_providers" j WHERE j."id" = m."provider_id") AS text) AS provider,
    CAST(m."model_name" AS text) AS name,
    CAST(m."model_name" AS text) AS display_name,
    m."org_id" AS team_id,
    NULL::text AS litellm_model,
    CAST(m."context_tokens" AS integer) AS token_limit,
    false AS supports_vision,
    false AS supports_tools,
    false AS supports_reasoning,
    NULL::integer AS security_level,
    COALESCE((SELECT s.deprecated FROM "lifecycle".model_state s WHERE s.model_id = m."id"), false) AS deprecated,
    (SELECT s.deprecation_date FROM "lifecycle".model_state s WHERE s.model_id = m."id") AS deprecation_date,
    (SELECT s.deprecation_source FROM "lifecycle".model_state s WHERE s.model_id = m."id") AS deprecation_source,
    (SELECT s.replacement_model_id FROM "lifecycle".model_state s WHERE s.model_id = m."id") AS replacement_model_id,
    (SELECT s.migrated_to_model_id FROM "lifecycle".model_state s WHERE s.model_id = m."id") AS migrated_to_model_id,
    (SELECT s.deleted_at FROM "lifecycle".model_state s WHERE s.model_id = m."id") AS deleted_at,
    NULL::timestamptz AS created_at,
    NULL::timestamptz AS updated_at
FROM "public"."ai_models" m;

DROP TRIGGER IF EXISTS models_write ON "lifecycle".models;

DROP FUNCTION IF EXISTS "lifecycle".models_write();

CREATE OR REPLACE FUNCTION "lifecycle".models_write()
RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM "public"."ai_models" WHERE "id" = OLD.id;
        DELETE FROM "lifecycle".model_state WHERE model_id = OLD.id;
        UPDATE "lifecycle".model_state SET replacement_model_id = NULL
        WHERE replacement_model_id = OLD.id;
        RETURN OLD;
    END IF;
    IF NEW.provider IS NOT NULL AND (CASE WHEN TG_OP = 'INSERT' THEN true
            ELSE NEW.provider IS DISTINCT FROM OLD.provider END) THEN
        IF NOT EXISTS (SELECT 1 FROM "public"."ai_providers" j WHERE j."kind" = NEW.provider) THEN
            RAISE EXCEPTION 'no row of ai_providers has kind = %', NEW.provider USING ERRCODE = 'foreign_key_violation';
        ELSIF (SELECT count(*) FROM "public"."ai_providers" j WHERE j."kind" = NEW.provider) > 1 THEN
            RAISE EXCEPTION 'more than one row of ai_providers has kind = %: give [models] provider a filter that leaves one', NEW.provider USING ERRCODE = 'cardinality_violation';
        END IF;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO "public"."ai_models" ("provider_id", "model_name", "org_id", "context_tokens")
        VALUES ((SELECT j."id" FROM "public"."ai_providers" j WHERE j."kind" = NEW.provider), NEW.name, NEW.team_id, NEW.token_limit)
        RETURNING "id" INTO NEW.id;
    ELSE
        UPDATE "public"."ai_models" AS h SET
            "provider_id" = CASE WHEN NEW.provider IS NOT DISTINCT FROM OLD.provider THEN h."provider_id" ELSE (SELECT j."id" FROM "public"."ai_providers" j WHERE j."kind" = NEW.provider) END,
            "model_name" = CASE WHEN NEW.name IS NOT DISTINCT FROM OLD.name THEN h."model_name" ELSE NEW.name END,
            "org_id" = CASE WHEN NEW.team_id IS NOT DISTINCT FROM OLD.team_id THEN h."org_id" ELSE NEW.team_id END,
            "context_tokens" = CASE WHEN NEW.token_limit IS NOT DISTINCT FROM OLD.token_limit THEN h."context_tokens" ELSE NEW.token_limit END
        WHERE h."id" = OLD.id;
    END IF;
    INSERT INTO "lifecycle".model_state AS s (model_id, deprecated, deprecation_date, deprecation_source, replacement_model_id, migrated_to_model_id, deleted_at)
    VALUES (NEW.id, NEW.deprecated, NEW.deprecation_date, NEW.deprecation_source, NEW.replacement_model_id, NEW.migrated_to_model_id, NEW.deleted_at)
    ON CONFLICT (model_id) DO UPDATE SET
        deprecated = CASE WHEN TG_OP = 'UPDATE' AND NEW.deprecated IS NOT DISTINCT FROM OLD.deprecated THEN s.deprecated ELSE EXCLUDED.deprecated END,
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

COMMENT ON VIEW "lifecycle".models IS 'lifecycle models view 1e8745382a1a414b';
