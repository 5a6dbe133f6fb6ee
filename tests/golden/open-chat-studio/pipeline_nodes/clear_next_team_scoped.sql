WITH bound AS (
    SELECT t.id FROM pipelines_node t
    WHERE t.llm_provider_model_id = :source AND t.is_archived IS NOT TRUE
      AND EXISTS (SELECT 1 FROM pipelines_pipeline p WHERE p.id = t.pipeline_id AND p.team_id = ANY(:scope_teams)) AND t.id > :after
    ORDER BY t.llm_provider_model_id, t.id OFFSET :limit - 1 LIMIT 1
),
moved AS (
    UPDATE pipelines_node t SET llm_provider_model_id = NULL,
        params = CASE WHEN CASE jsonb_typeof(t.params #> '{llm_provider_model_id}') WHEN 'string' THEN lower(t.params #> '{llm_provider_model_id}' #>> '{}') WHEN 'number' THEN CAST(trim_scale(CAST(t.params #> '{llm_provider_model_id}' AS numeric)) AS text) END = :source_text
            THEN jsonb_set(t.params, '{llm_provider_model_id}', 'null'::jsonb)
            ELSE t.params END
    WHERE t.llm_provider_model_id = :source AND t.is_archived IS NOT TRUE
      AND EXISTS (SELECT 1 FROM pipelines_pipeline p WHERE p.id = t.pipeline_id AND p.team_id = ANY(:scope_teams)) AND t.id > :after
      AND (NOT EXISTS (SELECT 1 FROM bound) OR t.id <= (SELECT id FROM bound))
    RETURNING t.id, t.pipeline_id
),
moved_teams AS (SELECT p.team_id AS team_id FROM moved m JOIN pipelines_pipeline p ON p.id = m.pipeline_id),
per_team AS (SELECT team_id, count(*) AS n FROM moved_teams GROUP BY team_id),
counted AS (
    INSERT INTO model_migration_batches (migration_id, label, rows, teams)
    SELECT :migration_id, CAST(:label AS text), sum(n),
           jsonb_object_agg(COALESCE(CAST(team_id AS text), ''), n)
    FROM per_team HAVING sum(n) > 0
)
SELECT CASE WHEN EXISTS (SELECT 1 FROM bound) THEN :limit ELSE (SELECT COALESCE(sum(n), 0) FROM per_team) END AS selected,
       (SELECT COALESCE(sum(n), 0) FROM per_team) AS moved, (SELECT id FROM bound) AS last_key
