SELECT count(*) FROM bots t WHERE t.ai_model_id = :source AND NOT (t.org_id = ANY(:scope_teams))
