SELECT count(*) FROM flow_steps t WHERE t.ai_model_id = :source AND NOT COALESCE(EXISTS (SELECT 1 FROM flows p WHERE p.uid = t.flow_uid AND p.org_id = ANY(:scope_teams)), FALSE)
