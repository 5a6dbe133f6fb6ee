WITH journal AS (
    SELECT j.id, j.row_keys, j.old_values, j.new_values FROM request_journal j
    WHERE j.migration_id = :migration_id AND j.label = CAST(:label AS text) AND j.id < :before
    ORDER BY j.migration_id DESC, j.label DESC, j.id DESC LIMIT 1
),
entries AS (
    SELECT e.row_key, e.old_values, e.new_values
    FROM journal j,
         unnest(j.row_keys, j.old_values, j.new_values) AS e(row_key, old_values, new_values)
),
restored AS (
    UPDATE analysis_transcriptanalysis t SET llm_provider_model_id = :source
    FROM entries e
    WHERE t.id = CAST(e.row_key AS bigint)
      AND t.llm_provider_model_id IS NOT DISTINCT FROM :target
    RETURNING t.id
)
SELECT (SELECT count(*) FROM entries) AS selected, (SELECT count(*) FROM restored) AS restored,
       (SELECT id FROM journal) AS last_id
