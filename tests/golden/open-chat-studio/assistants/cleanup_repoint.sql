UPDATE assistants_openaiassistant t SET llm_provider_model_id = :target WHERE t.llm_provider_model_id = :model_id AND t.is_archived IS TRUE
