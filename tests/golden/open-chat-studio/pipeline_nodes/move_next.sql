WITH batch AS (
    SELECT t.id, (jsonb_build_object('params', t.params) - ARRAY[CASE WHEN t.params IS NULL THEN 'params' END]) AS old_values FROM pipelines_node t
    WHERE t.llm_provider_model_id = :source AND t.is_archived IS NOT TRUE AND t.id > :after
    ORDER BY t.llm_provider_model_id, t.id LIMIT :limit
    FOR UPDATE OF t
),
moved AS (
    UPDATE pipelines_node t SET llm_provider_model_id = :target,
        params = CASE WHEN CASE jsonb_typeof(t.params #> '{llm_provider_model_id}') WHEN 'string' THEN lower(t.params #> '{llm_provider_model_id}' #>> '{}') WHEN 'number' THEN CAST(trim_scale(CAST(t.params #> '{llm_provider_model_id}' AS numeric)) AS text) END = :source_text
            THEN jsonb_set(t.params, '{llm_provider_model_id}', to_jsonb(CAST(:target_number AS bigint)))
            ELSE t.params END
    WHERE t.id = ANY(ARRAY(SELECT id FROM batch))
    RETURNING t.id, t.pipeline_id, (jsonb_build_object('params', t.params) - ARRAY[CASE WHEN t.params IS NULL THEN 'params' END]) AS new_values
),
journaled AS (
    INSERT INTO request_journal (migration_id, label, row_keys, old_values, new_values)
    SELECT :migration_id, CAST(:label AS text), array_agg(CAST(m.id AS text)),
           array_agg(b.old_values), array_agg(m.new_values)
    FROM moved m JOIN batch b ON b.id = m.id HAVING count(*) > 0
),
moved_teams AS (SELECT p.team_id AS team_id FROM moved m JOIN pipelines_pipeline p ON p.id = m.pipeline_id),
per_team AS (SELECT team_id, count(*) AS n FROM moved_teams GROUP BY team_id),
counted AS (
    INSERT INTO model_migration_batches (migration_id, label, rows, teams)
    SELECT :migration_id, CAST(:label AS text), sum(n),
           jsonb_object_agg(COALESCE(CAST(team_id AS text), ''), n)
    FROM per_team HAVING sum(n) > 0
)
SELECT (SELECT count(*) FROM batch) AS selected, (SELECT COALESCE(sum(n), 0) FROM per_team) AS moved,
       (SELECT id FROM batch ORDER BY id DESC LIMIT 1) AS last_key
