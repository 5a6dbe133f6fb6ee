SELECT count(*) FROM assistants_openaiassistant t WHERE t.llm_provider_model_id = :source AND t.is_archived IS NOT TRUE AND NOT COALESCE(t.team_id = ANY(:scope_teams), FALSE)
