SELECT EXISTS (SELECT 1 FROM services t WHERE t.llm_model_id = :model_id AND t.team_id = ANY(:scope_teams))
