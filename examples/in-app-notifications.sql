-- In-app notifications: what the host application runs against the worker's own
-- `notifications` table (docs/notifications.md). The worker writes one row per
-- (event, team, user) and never changes it afterwards; the application reads the rows and
-- sets `read_at`. `lifecycle` is LIFECYCLE_SCHEMA; the application's database role needs
-- SELECT and UPDATE (read_at) on lifecycle.notifications.
-- Each statement is named for tests/integration/test_in_app_notifications.py, which runs
-- them; every value is a bound parameter.

-- name: unread_count
-- The badge on the bell.
SELECT count(*) AS unread
FROM lifecycle.notifications
WHERE user_id = :user_id AND read_at IS NULL;

-- name: inbox
-- The user's notifications in one team, newest first; `data` holds the model, its
-- replacement (or a suggested one), the deprecation date and the team's usage.
SELECT id, slug, level, title, body,
       data -> 'model' ->> 'provider' AS provider,
       data -> 'model' ->> 'name' AS model,
       data -> 'replacement' ->> 'name' AS replacement,
       data ->> 'deprecation_date' AS deprecation_date,
       created_at, read_at
FROM lifecycle.notifications
WHERE user_id = :user_id AND team_id = :team_id
ORDER BY created_at DESC, id
LIMIT 50;

-- name: mark_read
UPDATE lifecycle.notifications
SET read_at = now()
WHERE id = :id AND user_id = :user_id AND read_at IS NULL;

-- name: mark_all_read
UPDATE lifecycle.notifications
SET read_at = now()
WHERE user_id = :user_id AND read_at IS NULL;
