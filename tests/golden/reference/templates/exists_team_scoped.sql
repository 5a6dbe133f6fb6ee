SELECT EXISTS (SELECT 1 FROM templates t WHERE t.llm_model_id = :model_id AND t.deleted_at IS NULL AND t.team_id = ANY(:scope_teams))
