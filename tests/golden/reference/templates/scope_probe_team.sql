SELECT count(*) FROM templates t WHERE t.llm_model_id = :source AND t.deleted_at IS NULL AND NOT COALESCE(t.team_id = ANY(:scope_teams), FALSE)
