WITH batch AS (
    SELECT t.id, (jsonb_build_object('spec', t.spec) - ARRAY[CASE WHEN t.spec IS NULL THEN 'spec' END]) AS old_values FROM workflows t
    WHERE (CAST(lower(CAST(t.spec AS text)) AS jsonb) @> CAST(:source_doc AS jsonb) OR CAST(lower(CAST(t.spec AS text)) AS jsonb) @> CAST(:source_doc_num AS jsonb))
      AND EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(t.spec #> '{steps}') = 'array' THEN t.spec #> '{steps}' ELSE '[]'::jsonb END) WITH ORDINALITY AS e(elem, ord) WHERE CASE jsonb_typeof(e.elem #> '{model_id}') WHEN 'string' THEN lower(e.elem #> '{model_id}' #>> '{}') WHEN 'number' THEN CAST(trim_scale(CAST(e.elem #> '{model_id}' AS numeric)) AS text) END = :source_text) AND t.id > :after
    ORDER BY t.id LIMIT :limit
    FOR UPDATE OF t
),
moved AS (
    UPDATE workflows t SET spec = CASE WHEN jsonb_typeof(t.spec #> '{steps}') = 'array' THEN jsonb_set(t.spec, '{steps}', (
        SELECT COALESCE(jsonb_agg(
            CASE WHEN CASE jsonb_typeof(e.elem #> '{model_id}') WHEN 'string' THEN lower(e.elem #> '{model_id}' #>> '{}') WHEN 'number' THEN CAST(trim_scale(CAST(e.elem #> '{model_id}' AS numeric)) AS text) END = :source_text
                 THEN jsonb_set(e.elem, '{model_id}', 'null'::jsonb)
                 ELSE e.elem END
            ORDER BY e.ord), '[]'::jsonb)
        FROM jsonb_array_elements(CASE WHEN jsonb_typeof(t.spec #> '{steps}') = 'array' THEN t.spec #> '{steps}' ELSE '[]'::jsonb END) WITH ORDINALITY AS e(elem, ord)))
    ELSE t.spec END
    WHERE t.id = ANY(ARRAY(SELECT id FROM batch))
    RETURNING t.id, t.org_id, (jsonb_build_object('spec', t.spec) - ARRAY[CASE WHEN t.spec IS NULL THEN 'spec' END]) AS new_values
),
journaled AS (
    INSERT INTO request_journal (migration_id, label, row_keys, old_values, new_values)
    SELECT :migration_id, CAST(:label AS text), array_agg(CAST(m.id AS text)),
           array_agg(b.old_values), array_agg(m.new_values)
    FROM moved m JOIN batch b ON b.id = m.id HAVING count(*) > 0
),
moved_teams AS (SELECT m.org_id AS team_id FROM moved m),
per_team AS (SELECT team_id, count(*) AS n FROM moved_teams GROUP BY team_id),
counted AS (
    INSERT INTO model_migration_batches (migration_id, label, rows, teams)
    SELECT :migration_id, CAST(:label AS text), sum(n),
           jsonb_object_agg(COALESCE(CAST(team_id AS text), ''), n)
    FROM per_team HAVING sum(n) > 0
)
SELECT (SELECT count(*) FROM batch) AS selected, (SELECT COALESCE(sum(n), 0) FROM per_team) AS moved,
       (SELECT id FROM batch ORDER BY id DESC LIMIT 1) AS last_key
