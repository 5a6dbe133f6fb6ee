SELECT t.team_id AS team_id, count(*) AS n FROM analysis_transcriptanalysis t WHERE t.translation_llm_provider_model_id = :model_id GROUP BY 1
