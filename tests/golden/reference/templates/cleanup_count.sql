SELECT count(*) FROM templates t WHERE t.llm_model_id = :model_id AND t.deleted_at IS NOT NULL
