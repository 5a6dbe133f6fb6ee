SELECT EXISTS (SELECT 1 FROM bots t WHERE t.ai_model_id = :model_id)
