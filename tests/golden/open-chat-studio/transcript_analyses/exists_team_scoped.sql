SELECT EXISTS (SELECT 1 FROM analysis_transcriptanalysis t WHERE t.llm_provider_model_id = :model_id AND t.team_id = ANY(:scope_teams))
