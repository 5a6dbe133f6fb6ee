SELECT EXISTS (SELECT 1 FROM assistants_openaiassistant t WHERE t.llm_provider_model_id = :model_id AND t.is_archived IS NOT TRUE AND t.team_id = ANY(:scope_teams))
