SELECT t.team_id AS team_id, count(*) AS n FROM assistants_openaiassistant t WHERE t.llm_provider_model_id = :model_id GROUP BY 1
