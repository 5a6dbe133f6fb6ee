SELECT CAST(t.ai_model_id AS text) AS model_id, t.org_id AS team_id, count(DISTINCT t.id) FROM bots t WHERE t.ai_model_id = ANY(:ids) GROUP BY 1, 2
