SELECT CAST(t.ai_model_id AS text) AS model_id, p.org_id AS team_id, count(DISTINCT t.id) FROM flow_steps t JOIN flows p ON p.uid = t.flow_uid WHERE t.ai_model_id = ANY(:ids) GROUP BY 1, 2
