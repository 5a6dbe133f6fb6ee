WITH bound AS (
    SELECT t.id FROM assistants t
    WHERE t.llm_model_id = :source
      AND t.team_id = ANY(:scope_teams)
      AND NOT EXISTS (
        SELECT 1 FROM jsonb_each(CASE WHEN jsonb_typeof(t.model_parameters) = 'object' THEN t.model_parameters ELSE '{}' END) AS e
        WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(CAST(:param_rules AS jsonb)) AS r(rule) WHERE r.rule ->> 'k' = e.key AND r.rule -> 'v' = e.value)) AND t.id > :after
    ORDER BY t.llm_model_id, t.id OFFSET :limit - 1 LIMIT 1
),
moved AS (
    UPDATE assistants t SET llm_model_id = :target, model_parameters = CASE WHEN jsonb_typeof(t.model_parameters) = 'object' THEN (
        SELECT COALESCE(
            jsonb_object_agg(
                COALESCE(r.rule ->> 'to', e.key), COALESCE(r.rule -> 'set', e.value)
                ORDER BY (r.rule ->> 'to') IS NULL, e.key
            ),
            '{}'::jsonb)
        FROM jsonb_each(CASE WHEN jsonb_typeof(t.model_parameters) = 'object' THEN t.model_parameters ELSE '{}' END) AS e
        LEFT JOIN LATERAL (SELECT rule FROM jsonb_array_elements(CAST(:param_rules AS jsonb)) AS r(rule) WHERE r.rule ->> 'k' = e.key AND r.rule -> 'v' = e.value LIMIT 1) AS r ON TRUE
        WHERE NOT COALESCE(CAST(r.rule ->> 'drop' AS boolean), FALSE)
    ) ELSE t.model_parameters END
    WHERE t.llm_model_id = :source
      AND t.team_id = ANY(:scope_teams)
      AND NOT EXISTS (
        SELECT 1 FROM jsonb_each(CASE WHEN jsonb_typeof(t.model_parameters) = 'object' THEN t.model_parameters ELSE '{}' END) AS e
        WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(CAST(:param_rules AS jsonb)) AS r(rule) WHERE r.rule ->> 'k' = e.key AND r.rule -> 'v' = e.value)) AND t.id > :after
      AND (NOT EXISTS (SELECT 1 FROM bound) OR t.id <= (SELECT id FROM bound))
    RETURNING t.id, t.team_id
),
moved_teams AS (SELECT m.team_id AS team_id FROM moved m),
per_team AS (SELECT team_id, count(*) AS n FROM moved_teams GROUP BY team_id),
counted AS (
    INSERT INTO model_migration_batches (migration_id, label, rows, teams)
    SELECT :migration_id, CAST(:label AS text), sum(n),
           jsonb_object_agg(COALESCE(CAST(team_id AS text), ''), n)
    FROM per_team HAVING sum(n) > 0
)
SELECT CASE WHEN EXISTS (SELECT 1 FROM bound) THEN :limit ELSE (SELECT COALESCE(sum(n), 0) FROM per_team) END AS selected,
       (SELECT COALESCE(sum(n), 0) FROM per_team) AS moved, (SELECT id FROM bound) AS last_key
