SELECT array_remove(ARRAY[
    CASE WHEN EXISTS (SELECT 1 FROM questions t WHERE t.llm_model_id = :h0_id) THEN CAST(:h0 AS text) END,
    CASE WHEN EXISTS (SELECT 1 FROM app_runs t WHERE t.llm_model_id = :h1_id) THEN CAST(:h1 AS text) END], NULL) AS history,
array_remove(ARRAY[
    CASE WHEN EXISTS (SELECT 1 FROM assistants t WHERE t.llm_model_id = :l0_id) THEN CAST(:l0 AS text) END,
    CASE WHEN EXISTS (SELECT 1 FROM apps t WHERE t.llm_model_id = :l1_id) THEN CAST(:l1 AS text) END,
    CASE WHEN EXISTS (SELECT 1 FROM services t WHERE t.llm_model_id = :l2_id) THEN CAST(:l2 AS text) END,
    CASE WHEN EXISTS (SELECT 1 FROM templates t WHERE t.llm_model_id = :l3_id AND t.deleted_at IS NULL) THEN CAST(:l3 AS text) END,
    CASE WHEN EXISTS (SELECT 1 FROM space_models t WHERE t.llm_model_id = :l4_id) THEN CAST(:l4 AS text) END,
    CASE WHEN EXISTS (SELECT 1 FROM pipelines t WHERE (CAST(lower(CAST(t.definition AS text)) AS jsonb) @> CAST(:l5_id_doc AS jsonb) OR CAST(lower(CAST(t.definition AS text)) AS jsonb) @> CAST(:l5_id_doc_num AS jsonb))
      AND EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(t.definition #> '{nodes}') = 'array' THEN t.definition #> '{nodes}' ELSE '[]'::jsonb END) WITH ORDINALITY AS e(elem, ord) WHERE CASE jsonb_typeof(e.elem #> '{params,llm_model_id}') WHEN 'string' THEN lower(e.elem #> '{params,llm_model_id}' #>> '{}') WHEN 'number' THEN CAST(trim_scale(CAST(e.elem #> '{params,llm_model_id}' AS numeric)) AS text) END = :l5_id_text)) THEN CAST(:l5 AS text) END], NULL) AS live,
ARRAY(SELECT o.id FROM models o WHERE o.migrated_to_model_id = :model_id ORDER BY o.id) AS migrated_from
