SELECT ARRAY[]::text[] AS history,
array_remove(ARRAY[
    CASE WHEN EXISTS (SELECT 1 FROM bots t WHERE t.ai_model_id = :l0_id) THEN CAST(:l0 AS text) END,
    CASE WHEN EXISTS (SELECT 1 FROM flow_steps t WHERE t.ai_model_id = :l1_id) THEN CAST(:l1 AS text) END,
    CASE WHEN EXISTS (SELECT 1 FROM workflows t WHERE (CAST(lower(CAST(t.spec AS text)) AS jsonb) @> CAST(:l2_id_doc AS jsonb) OR CAST(lower(CAST(t.spec AS text)) AS jsonb) @> CAST(:l2_id_doc_num AS jsonb))
      AND EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(t.spec #> '{steps}') = 'array' THEN t.spec #> '{steps}' ELSE '[]'::jsonb END) WITH ORDINALITY AS e(elem, ord) WHERE CASE jsonb_typeof(e.elem #> '{model_id}') WHEN 'string' THEN lower(e.elem #> '{model_id}' #>> '{}') WHEN 'number' THEN CAST(trim_scale(CAST(e.elem #> '{model_id}' AS numeric)) AS text) END = :l2_id_text)) THEN CAST(:l2 AS text) END], NULL) AS live,
ARRAY(SELECT o.id FROM models o WHERE o.migrated_to_model_id = :model_id ORDER BY o.id) AS migrated_from
