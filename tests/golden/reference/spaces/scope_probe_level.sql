SELECT count(*) FROM space_models t WHERE t.llm_model_id = :source AND NOT COALESCE(NOT EXISTS (SELECT 1 FROM spaces p WHERE p.id = t.space_id AND p.required_security_level > :scope_level), FALSE)
