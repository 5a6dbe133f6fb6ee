WITH batch AS (
    SELECT t.space_id FROM space_models t
    WHERE t.llm_model_id = :source
      AND NOT EXISTS (SELECT 1 FROM spaces p WHERE p.id = t.space_id AND p.required_security_level > :scope_level) AND t.space_id > :after
    ORDER BY t.llm_model_id, t.space_id LIMIT :limit
),
added AS (
    INSERT INTO space_models (space_id, llm_model_id)
    SELECT space_id, :target FROM batch
    ON CONFLICT DO NOTHING
    RETURNING space_id
),
moved AS (
    DELETE FROM space_models t WHERE t.space_id = ANY(ARRAY(SELECT space_id FROM batch)) AND t.llm_model_id = :source
    RETURNING t.space_id, to_jsonb(t) AS old_values,
              jsonb_build_object('added', t.space_id IN (SELECT space_id FROM added)) AS new_values
),
journaled AS (
    INSERT INTO request_journal (migration_id, label, row_keys, old_values, new_values)
    SELECT :migration_id, CAST(:label AS text), array_agg(CAST(m.space_id AS text)),
           array_agg(m.old_values), array_agg(m.new_values)
    FROM moved m HAVING count(*) > 0
),
moved_teams AS (SELECT p.team_id AS team_id FROM moved m JOIN spaces p ON p.id = m.space_id),
per_team AS (SELECT team_id, count(*) AS n FROM moved_teams GROUP BY team_id),
counted AS (
    INSERT INTO model_migration_batches (migration_id, label, rows, teams)
    SELECT :migration_id, CAST(:label AS text), sum(n),
           jsonb_object_agg(COALESCE(CAST(team_id AS text), ''), n)
    FROM per_team HAVING sum(n) > 0
)
SELECT (SELECT count(*) FROM batch) AS selected, (SELECT COALESCE(sum(n), 0) FROM per_team) AS moved,
       (SELECT space_id FROM batch ORDER BY space_id DESC LIMIT 1) AS last_key
