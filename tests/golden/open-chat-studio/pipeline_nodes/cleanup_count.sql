SELECT count(*) FROM pipelines_node t WHERE t.llm_provider_model_id = :model_id AND t.is_archived IS TRUE
