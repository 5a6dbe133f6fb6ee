-- platform open-chat-studio
-- The role must exist first, e.g.: CREATE ROLE "lifecycle_worker" LOGIN PASSWORD '...';
-- Run as the owner of these objects (or a superuser), e.g. | psql -f -

-- the worker's own schema lifecycle
GRANT USAGE ON SCHEMA "lifecycle" TO "lifecycle_worker";
-- what a later `lifecycle db upgrade` creates (run by lifecycle_owner, the schema's owner)
ALTER DEFAULT PRIVILEGES FOR ROLE "lifecycle_owner" IN SCHEMA "lifecycle" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "lifecycle_worker";
ALTER DEFAULT PRIVILEGES FOR ROLE "lifecycle_owner" IN SCHEMA "lifecycle" GRANT USAGE, SELECT ON SEQUENCES TO "lifecycle_worker";
ALTER DEFAULT PRIVILEGES FOR ROLE "lifecycle_owner" IN SCHEMA "lifecycle" GRANT EXECUTE ON FUNCTIONS TO "lifecycle_worker";

-- schema public
GRANT USAGE ON SCHEMA "public" TO "lifecycle_worker";
-- analysis_transcriptanalysis: reference transcript_analyses (live); reference transcript_translations (live)
GRANT SELECT ("id", "llm_provider_model_id", "team_id", "translation_llm_provider_model_id") ON TABLE "public"."analysis_transcriptanalysis" TO "lifecycle_worker";
GRANT UPDATE ("llm_provider_model_id", "translation_llm_provider_model_id") ON TABLE "public"."analysis_transcriptanalysis" TO "lifecycle_worker";
-- assistants_openaiassistant: reference assistants (live)
GRANT SELECT ("id", "is_archived", "llm_provider_model_id", "team_id") ON TABLE "public"."assistants_openaiassistant" TO "lifecycle_worker";
GRANT UPDATE ("llm_provider_model_id") ON TABLE "public"."assistants_openaiassistant" TO "lifecycle_worker";
-- documents_collection: reference collections (live)
GRANT SELECT ("contextualizer_llm_model_id", "id", "team_id") ON TABLE "public"."documents_collection" TO "lifecycle_worker";
GRANT UPDATE ("contextualizer_llm_model_id") ON TABLE "public"."documents_collection" TO "lifecycle_worker";
-- evaluations_evaluator: reference evaluators (live)
GRANT SELECT ("id", "llm_provider_model_id", "team_id") ON TABLE "public"."evaluations_evaluator" TO "lifecycle_worker";
GRANT UPDATE ("llm_provider_model_id") ON TABLE "public"."evaluations_evaluator" TO "lifecycle_worker";
-- pipelines_node: reference pipeline_nodes (live)
GRANT SELECT ("id", "is_archived", "llm_provider_model_id", "params", "pipeline_id") ON TABLE "public"."pipelines_node" TO "lifecycle_worker";
GRANT UPDATE ("llm_provider_model_id", "params") ON TABLE "public"."pipelines_node" TO "lifecycle_worker";
-- pipelines_pipeline: reference pipeline_nodes: its rows' team
GRANT SELECT ("id", "team_id") ON TABLE "public"."pipelines_pipeline" TO "lifecycle_worker";
-- service_providers_llmprovidermodel: models (read and written through the worker's models view)
GRANT DELETE ON TABLE "public"."service_providers_llmprovidermodel" TO "lifecycle_worker";
GRANT SELECT ("created_at", "deprecated", "id", "max_token_limit", "name", "team_id", "type", "updated_at") ON TABLE "public"."service_providers_llmprovidermodel" TO "lifecycle_worker";
GRANT INSERT ("created_at", "deprecated", "max_token_limit", "name", "team_id", "type", "updated_at") ON TABLE "public"."service_providers_llmprovidermodel" TO "lifecycle_worker";
GRANT UPDATE ("created_at", "deprecated", "max_token_limit", "name", "team_id", "type", "updated_at") ON TABLE "public"."service_providers_llmprovidermodel" TO "lifecycle_worker";
-- teams_team: the teams
GRANT SELECT ("id", "name", "slug") ON TABLE "public"."teams_team" TO "lifecycle_worker";
