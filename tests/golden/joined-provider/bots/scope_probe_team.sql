SELECT count(*) FROM bots t WHERE t.ai_model_id = :source AND NOT COALESCE(t.org_id = ANY(:scope_teams), FALSE)
