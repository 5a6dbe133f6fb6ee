SELECT CAST(t.llm_provider_model_id AS text) AS model_id, t.team_id AS team_id, count(DISTINCT t.id) FROM analysis_transcriptanalysis t WHERE t.llm_provider_model_id = ANY(:ids) GROUP BY 1, 2
