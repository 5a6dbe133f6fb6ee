SELECT EXISTS (SELECT 1 FROM app_runs t WHERE t.llm_model_id = :model_id)
