SELECT count(*) FROM assistants t WHERE t.llm_model_id = :source AND NOT COALESCE(t.team_id = ANY(:scope_teams), FALSE)
