UPDATE pipelines_node t SET llm_provider_model_id = NULL,
        params = CASE WHEN lower(t.params #>> '{llm_provider_model_id}') = :model_id_text
            THEN jsonb_set(t.params, '{llm_provider_model_id}', 'null'::jsonb)
            ELSE t.params END WHERE t.llm_provider_model_id = :model_id AND t.is_archived IS TRUE
