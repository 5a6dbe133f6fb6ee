SELECT count(*) FROM documents_collection t WHERE t.contextualizer_llm_model_id = :source AND NOT COALESCE(t.team_id = ANY(:scope_teams), FALSE)
