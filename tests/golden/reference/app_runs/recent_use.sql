SELECT CAST(t.llm_model_id AS text) AS model_id, count(*) FROM app_runs t WHERE t.llm_model_id = ANY(:ids) AND t.created_at >= now() - make_interval(days => :days) GROUP BY 1
