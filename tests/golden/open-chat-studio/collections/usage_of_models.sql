SELECT CAST(t.contextualizer_llm_model_id AS text) AS model_id, t.team_id AS team_id, count(DISTINCT t.id) FROM documents_collection t WHERE t.contextualizer_llm_model_id = ANY(:ids) GROUP BY 1, 2
