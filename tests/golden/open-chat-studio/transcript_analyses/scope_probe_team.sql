SELECT count(*) FROM analysis_transcriptanalysis t WHERE t.llm_provider_model_id = :source AND NOT COALESCE(t.team_id = ANY(:scope_teams), FALSE)
