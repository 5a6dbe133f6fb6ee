SELECT CAST(t.llm_model_id AS text) AS model_id, p.team_id AS team_id, count(DISTINCT t.space_id) FROM space_models t JOIN spaces p ON p.id = t.space_id WHERE t.llm_model_id = ANY(:ids) GROUP BY 1, 2
