SELECT t.team_id AS team_id, count(*) AS n FROM templates t WHERE t.llm_model_id = :model_id AND t.deleted_at IS NULL GROUP BY 1
