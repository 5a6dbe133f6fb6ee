WITH entries AS (
    SELECT j.id, j.row_key, j.old_values, j.new_values FROM request_journal j
    WHERE j.migration_id = :migration_id AND j.label = CAST(:label AS text) AND j.id < :before
    ORDER BY j.migration_id DESC, j.label DESC, j.id DESC LIMIT :limit
),
restored AS (
    UPDATE documents_collection t SET contextualizer_llm_model_id = :source
    FROM entries e
    WHERE t.id = CAST(e.row_key AS bigint)
      AND t.contextualizer_llm_model_id IS NOT DISTINCT FROM :target
    RETURNING t.id
)
SELECT (SELECT count(*) FROM entries) AS selected, (SELECT count(*) FROM restored) AS restored,
       (SELECT min(id) FROM entries) AS last_id
