SELECT EXISTS (SELECT 1 FROM documents_collection t WHERE t.contextualizer_llm_model_id = :model_id AND t.team_id = ANY(:scope_teams))
