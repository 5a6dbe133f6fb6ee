UPDATE templates t SET llm_model_id = :target WHERE t.llm_model_id = :model_id AND t.deleted_at IS NOT NULL
