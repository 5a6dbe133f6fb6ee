UPDATE pipelines_node t SET llm_provider_model_id = :target,
        params = CASE WHEN CASE jsonb_typeof(t.params #> '{llm_provider_model_id}') WHEN 'string' THEN lower(t.params #> '{llm_provider_model_id}' #>> '{}') WHEN 'number' THEN CAST(trim_scale(CAST(t.params #> '{llm_provider_model_id}' AS numeric)) AS text) END = :model_id_text
            THEN jsonb_set(t.params, '{llm_provider_model_id}', to_jsonb(CAST(:target_number AS bigint)))
            ELSE t.params END WHERE t.llm_provider_model_id = :model_id AND t.is_archived IS TRUE
