SELECT t.org_id AS team_id, count(*) AS n FROM bots t WHERE t.ai_model_id = :model_id GROUP BY 1
