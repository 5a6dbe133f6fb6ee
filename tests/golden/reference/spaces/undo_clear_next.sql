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
restorable AS (
    SELECT e.row_key, e.old_values, CAST(e.new_values ->> 'added' AS boolean) AS added FROM entries e
    WHERE NOT EXISTS (SELECT 1 FROM space_models t WHERE t.space_id = CAST(e.row_key AS uuid) AND t.llm_model_id = :source)
      AND (NOT CAST(e.new_values ->> 'added' AS boolean) OR EXISTS (
          SELECT 1 FROM space_models t WHERE t.space_id = CAST(e.row_key AS uuid) AND t.llm_model_id = :target))
),
removed AS (
    DELETE FROM space_models t USING restorable r
    WHERE r.added AND t.space_id = CAST(r.row_key AS uuid) AND t.llm_model_id = :target
),
restored AS (
    INSERT INTO space_models
    SELECT (jsonb_populate_record(NULL::space_models, r.old_values)).* FROM restorable r
    ON CONFLICT DO NOTHING
    RETURNING space_id
)
SELECT (SELECT count(*) FROM entries) AS selected, (SELECT count(*) FROM restored) AS restored,
       (SELECT id FROM journal) AS last_id
