WITH bound AS (
    SELECT t.id FROM bots t
    WHERE t.ai_model_id = :source
      AND t.org_id = ANY(:scope_teams) AND t.id > :after
    ORDER BY t.ai_model_id, t.id OFFSET :limit - 1 LIMIT 1
),
moved AS (
    UPDATE bots t SET ai_model_id = NULL
    WHERE t.ai_model_id = :source
      AND t.org_id = ANY(:scope_teams) AND t.id > :after
      AND (NOT EXISTS (SELECT 1 FROM bound) OR t.id <= (SELECT id FROM bound))
    RETURNING t.id, t.org_id
),
moved_teams AS (SELECT m.org_id AS team_id FROM moved m),
per_team AS (SELECT team_id, count(*) AS n FROM moved_teams GROUP BY team_id),
counted AS (
    INSERT INTO model_migration_batches (migration_id, label, rows, teams)
    SELECT :migration_id, CAST(:label AS text), sum(n),
           jsonb_object_agg(COALESCE(CAST(team_id AS text), ''), n)
    FROM per_team HAVING sum(n) > 0
)
SELECT CASE WHEN EXISTS (SELECT 1 FROM bound) THEN :limit ELSE (SELECT COALESCE(sum(n), 0) FROM per_team) END AS selected,
       (SELECT COALESCE(sum(n), 0) FROM per_team) AS moved, (SELECT id FROM bound) AS last_key
