SELECT t.team_id AS team_id, count(*) AS n FROM questions t WHERE t.llm_model_id = :model_id GROUP BY 1
