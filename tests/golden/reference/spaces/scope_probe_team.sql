SELECT count(*) FROM space_models t WHERE t.llm_model_id = :source AND NOT COALESCE(EXISTS (SELECT 1 FROM spaces p WHERE p.id = t.space_id AND p.team_id = ANY(:scope_teams)), FALSE)
