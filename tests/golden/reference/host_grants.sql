-- platform reference
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
-- app_runs: reference app_runs (history)
GRANT SELECT ("created_at", "id", "llm_model_id", "team_id") ON TABLE "public"."app_runs" TO "lifecycle_worker";
-- apps: reference apps (live)
GRANT SELECT ("id", "llm_model_id", "team_id") ON TABLE "public"."apps" TO "lifecycle_worker";
GRANT UPDATE ("llm_model_id") ON TABLE "public"."apps" TO "lifecycle_worker";
-- assistants: reference assistants (live)
GRANT SELECT ("id", "llm_model_id", "model_parameters", "team_id") ON TABLE "public"."assistants" TO "lifecycle_worker";
GRANT UPDATE ("llm_model_id", "model_parameters") ON TABLE "public"."assistants" TO "lifecycle_worker";
-- llm_models: models (read and written through the worker's models view)
GRANT DELETE ON TABLE "public"."llm_models" TO "lifecycle_worker";
GRANT SELECT ("created_at", "deleted_at", "deprecated", "deprecation_date", "deprecation_source", "display_name", "id", "litellm_model", "migrated_to_model_id", "name", "provider", "replacement_model_id", "security_level", "supports_reasoning", "supports_tools", "supports_vision", "team_id", "token_limit", "updated_at") ON TABLE "public"."llm_models" TO "lifecycle_worker";
GRANT INSERT ("created_at", "deleted_at", "deprecated", "deprecation_date", "deprecation_source", "display_name", "litellm_model", "migrated_to_model_id", "name", "provider", "replacement_model_id", "security_level", "supports_reasoning", "supports_tools", "supports_vision", "team_id", "token_limit", "updated_at") ON TABLE "public"."llm_models" TO "lifecycle_worker";
GRANT UPDATE ("created_at", "deleted_at", "deprecated", "deprecation_date", "deprecation_source", "display_name", "litellm_model", "migrated_to_model_id", "name", "provider", "replacement_model_id", "security_level", "supports_reasoning", "supports_tools", "supports_vision", "team_id", "token_limit", "updated_at") ON TABLE "public"."llm_models" TO "lifecycle_worker";
-- pipelines: reference pipelines (live)
GRANT SELECT ("definition", "id", "team_id") ON TABLE "public"."pipelines" TO "lifecycle_worker";
GRANT UPDATE ("definition") ON TABLE "public"."pipelines" TO "lifecycle_worker";
-- questions: reference questions (history)
GRANT SELECT ("created_at", "id", "llm_model_id", "team_id") ON TABLE "public"."questions" TO "lifecycle_worker";
-- services: reference services (live)
GRANT SELECT ("id", "llm_model_id", "team_id") ON TABLE "public"."services" TO "lifecycle_worker";
GRANT UPDATE ("llm_model_id") ON TABLE "public"."services" TO "lifecycle_worker";
-- space_models: reference spaces (live)
GRANT DELETE ON TABLE "public"."space_models" TO "lifecycle_worker";
GRANT SELECT ("llm_model_id", "space_id") ON TABLE "public"."space_models" TO "lifecycle_worker";
GRANT INSERT ("llm_model_id", "space_id") ON TABLE "public"."space_models" TO "lifecycle_worker";
-- spaces: reference spaces: its rows' team
GRANT SELECT ("id", "required_security_level", "team_id") ON TABLE "public"."spaces" TO "lifecycle_worker";
-- teams: the teams
GRANT SELECT ("id", "name", "slug") ON TABLE "public"."teams" TO "lifecycle_worker";
-- templates: reference templates (live)
GRANT SELECT ("deleted_at", "id", "llm_model_id", "team_id") ON TABLE "public"."templates" TO "lifecycle_worker";
GRANT UPDATE ("llm_model_id") ON TABLE "public"."templates" TO "lifecycle_worker";
