WITH batch AS (
    SELECT t.id FROM documents_collection t
    WHERE t.contextualizer_llm_model_id = :source
    ORDER BY t.contextualizer_llm_model_id, t.id LIMIT :limit
    FOR UPDATE OF t
),
moved AS (
    UPDATE documents_collection t SET contextualizer_llm_model_id = :target
    WHERE t.id = ANY(ARRAY(SELECT id FROM batch))
    RETURNING t.id, t.team_id
),
journaled AS (
    INSERT INTO request_journal (migration_id, label, row_keys, old_values, new_values)
    SELECT :migration_id, CAST(:label AS text), array_agg(CAST(m.id AS text)),
           NULL, NULL
    FROM moved m HAVING count(*) > 0
),
moved_teams AS (SELECT m.team_id AS team_id FROM moved m),
per_team AS (SELECT team_id, count(*) AS n FROM moved_teams GROUP BY team_id),
counted AS (
    INSERT INTO model_migration_batches (migration_id, label, rows, teams)
    SELECT :migration_id, CAST(:label AS text), sum(n),
           jsonb_object_agg(COALESCE(CAST(team_id AS text), ''), n)
    FROM per_team HAVING sum(n) > 0
)
SELECT (SELECT count(*) FROM batch) AS selected, (SELECT COALESCE(sum(n), 0) FROM per_team) AS moved,
       (SELECT id FROM batch ORDER BY id DESC LIMIT 1) AS last_key
