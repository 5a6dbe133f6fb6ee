SELECT ARRAY[]::text[] AS history,
array_remove(ARRAY[
    CASE WHEN EXISTS (SELECT 1 FROM bots t WHERE t.ai_model_id = :l0_id) THEN CAST(:l0 AS text) END,
    CASE WHEN EXISTS (SELECT 1 FROM flow_steps t WHERE t.ai_model_id = :l1_id) THEN CAST(:l1 AS text) END], NULL) AS live,
ARRAY(SELECT o.id FROM models o WHERE o.migrated_to_model_id = :model_id ORDER BY o.id) AS migrated_from
