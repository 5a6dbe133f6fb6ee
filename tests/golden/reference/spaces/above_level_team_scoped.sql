SELECT count(*) FROM space_models t JOIN spaces p ON p.id = t.space_id WHERE t.llm_model_id = :source AND p.required_security_level > :level AND p.team_id = ANY(:scope_teams)
