SELECT EXISTS (SELECT 1 FROM flow_steps t WHERE t.ai_model_id = :model_id AND EXISTS (SELECT 1 FROM flows p WHERE p.uid = t.flow_uid AND p.org_id = ANY(:scope_teams)))
