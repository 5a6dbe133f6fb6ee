-- platform joined-provider
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
-- ai_models: models (read and written through the worker's models view)
GRANT DELETE ON TABLE "public"."ai_models" TO "lifecycle_worker";
GRANT SELECT ("context_tokens", "id", "model_name", "org_id", "provider_id") ON TABLE "public"."ai_models" TO "lifecycle_worker";
GRANT INSERT ("context_tokens", "model_name", "org_id", "provider_id") ON TABLE "public"."ai_models" TO "lifecycle_worker";
GRANT UPDATE ("context_tokens", "model_name", "org_id", "provider_id") ON TABLE "public"."ai_models" TO "lifecycle_worker";
-- ai_providers: a model column one foreign key away
GRANT SELECT ("id", "kind") ON TABLE "public"."ai_providers" TO "lifecycle_worker";
-- bots: reference bots (live)
GRANT SELECT ("ai_model_id", "id", "org_id") ON TABLE "public"."bots" TO "lifecycle_worker";
GRANT UPDATE ("ai_model_id") ON TABLE "public"."bots" TO "lifecycle_worker";
-- flow_steps: reference flow_steps (live)
GRANT SELECT ("ai_model_id", "flow_uid", "id") ON TABLE "public"."flow_steps" TO "lifecycle_worker";
GRANT UPDATE ("ai_model_id") ON TABLE "public"."flow_steps" TO "lifecycle_worker";
-- flows: reference flow_steps: its rows' team
GRANT SELECT ("org_id", "uid") ON TABLE "public"."flows" TO "lifecycle_worker";
-- orgs: the teams
GRANT SELECT ("id", "title") ON TABLE "public"."orgs" TO "lifecycle_worker";
-- workflows: reference workflows (live)
GRANT SELECT ("id", "org_id", "spec") ON TABLE "public"."workflows" TO "lifecycle_worker";
GRANT UPDATE ("spec") ON TABLE "public"."workflows" TO "lifecycle_worker";
