SELECT EXISTS (SELECT 1 FROM flow_steps t WHERE t.ai_model_id = :model_id)
