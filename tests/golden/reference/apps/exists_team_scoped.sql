SELECT EXISTS (SELECT 1 FROM apps t WHERE t.llm_model_id = :model_id AND t.team_id = ANY(:scope_teams))
