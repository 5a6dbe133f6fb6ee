CREATE OR REPLACE VIEW "lifecycle".models WITH (security_invoker = true) AS
SELECT
    m."id" AS id,
    m."provider" AS provider,
    m."name" AS name,
    m."display_name" AS display_name,
    m."team_id" AS team_id,
    m."litellm_model" AS litellm_model,
    m."token_limit" AS token_limit,
    m."supports_vision" AS supports_vision,
    m."supports_tools" AS supports_tools,
    m."supports_reasoning" AS supports_reasoning,
    m."security_level" AS security_level,
    m."deprecated" AS deprecated,
    m."deprecation_date" AS deprecation_date,
    m."deprecation_source" AS deprecation_source,
    m."replacement_model_id" AS replacement_model_id,
    m."migrated_to_model_id" AS migrated_to_model_id,
    m."deleted_at" AS deleted_at,
    m."created_at" AS created_at,
    m."updated_at" AS updated_at
FROM "public"."llm_models" m;

DROP TRIGGER IF EXISTS models_write ON "lifecycle".models;

DROP FUNCTION IF EXISTS "lifecycle".models_write();

COMMENT ON VIEW "lifecycle".models IS 'lifecycle models view 869447500463c22c';
