SELECT ARRAY[]::text[] AS history,
array_remove(ARRAY[
    CASE WHEN EXISTS (SELECT 1 FROM pipelines_node t WHERE t.llm_provider_model_id = :l0_id AND t.is_archived IS NOT TRUE) THEN CAST(:l0 AS text) END,
    CASE WHEN EXISTS (SELECT 1 FROM assistants_openaiassistant t WHERE t.llm_provider_model_id = :l1_id AND t.is_archived IS NOT TRUE) THEN CAST(:l1 AS text) END,
    CASE WHEN EXISTS (SELECT 1 FROM analysis_transcriptanalysis t WHERE t.llm_provider_model_id = :l2_id) THEN CAST(:l2 AS text) END,
    CASE WHEN EXISTS (SELECT 1 FROM analysis_transcriptanalysis t WHERE t.translation_llm_provider_model_id = :l3_id) THEN CAST(:l3 AS text) END,
    CASE WHEN EXISTS (SELECT 1 FROM evaluations_evaluator t WHERE t.llm_provider_model_id = :l4_id) THEN CAST(:l4 AS text) END,
    CASE WHEN EXISTS (SELECT 1 FROM documents_collection t WHERE t.contextualizer_llm_model_id = :l5_id) THEN CAST(:l5 AS text) END], NULL) AS live,
ARRAY(SELECT o.id FROM models o WHERE o.migrated_to_model_id = :model_id ORDER BY o.id) AS migrated_from
