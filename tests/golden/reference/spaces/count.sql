SELECT p.team_id AS team_id, count(*) AS n FROM space_models t JOIN spaces p ON p.id = t.space_id WHERE t.llm_model_id = :model_id GROUP BY 1
