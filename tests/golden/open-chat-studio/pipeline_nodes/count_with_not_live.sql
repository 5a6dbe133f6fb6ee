SELECT p.team_id AS team_id, count(*) AS n FROM pipelines_node t JOIN pipelines_pipeline p ON p.id = t.pipeline_id WHERE t.llm_provider_model_id = :model_id GROUP BY 1
