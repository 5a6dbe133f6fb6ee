SELECT CAST(t.llm_model_id AS text) AS model_id, t.team_id AS team_id, count(DISTINCT t.id) FROM services t WHERE t.llm_model_id = ANY(:ids) GROUP BY 1, 2
