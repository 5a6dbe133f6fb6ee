SELECT EXISTS (SELECT 1 FROM bots t WHERE t.ai_model_id = :model_id AND t.org_id = ANY(:scope_teams))
