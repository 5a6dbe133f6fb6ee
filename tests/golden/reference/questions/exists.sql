SELECT EXISTS (SELECT 1 FROM questions t WHERE t.llm_model_id = :model_id)
