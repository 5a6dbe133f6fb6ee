SELECT e.key, CAST(e.value AS text) AS value, count(*) AS rows
        FROM assistants t, jsonb_each(CASE WHEN jsonb_typeof(t.model_parameters) = 'object' THEN t.model_parameters ELSE '{}' END) AS e
        WHERE t.llm_model_id = :source
        GROUP BY e.key, e.value
        ORDER BY e.key, count(*) DESC
