SELECT EXISTS (SELECT 1 FROM space_models t WHERE t.llm_model_id = :model_id)
