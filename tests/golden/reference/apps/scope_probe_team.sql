SELECT count(*) FROM apps t WHERE t.llm_model_id = :source AND NOT (t.team_id = ANY(:scope_teams))
