SELECT t.team_id AS team_id, count(*) AS n FROM documents_collection t WHERE t.contextualizer_llm_model_id = :model_id GROUP BY 1
