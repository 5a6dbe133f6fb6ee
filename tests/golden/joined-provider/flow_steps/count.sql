SELECT p.org_id AS team_id, count(*) AS n FROM flow_steps t JOIN flows p ON p.uid = t.flow_uid WHERE t.ai_model_id = :model_id GROUP BY 1
