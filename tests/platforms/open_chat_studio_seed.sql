-- A little of everything the lifecycle meets on an Open Chat Studio-shaped schema: two
-- teams, admins with and without do-not-disturb, a plain member, global and custom models,
-- live and archived references, a JSON copy stored as a number and (older) as a string.

INSERT INTO django_content_type (id, app_label, model) VALUES
    (1, 'service_providers', 'llmprovidermodel'), (2, 'teams', 'team');
INSERT INTO auth_permission (id, name, content_type_id, codename) VALUES
    (1, 'Can change llm provider model', 1, 'change_llmprovidermodel'),
    (2, 'Can change team', 2, 'change_team');
INSERT INTO auth_group (id, name) VALUES (1, 'Team Admin'), (2, 'Chat Viewer');
INSERT INTO auth_group_permissions (group_id, permission_id) VALUES (1, 1), (1, 2), (2, 2);

INSERT INTO users_customuser (id, password, username, email, first_name, is_active, date_joined)
VALUES
    (101, '!', 'ada', 'ada@alpha.example', 'Ada', true, now()),
    (102, '!', 'bob', 'bob@alpha.example', 'Bob', true, now()),
    (103, '!', 'cy', 'cy@alpha.example', 'Cy', true, now()),
    (201, '!', 'dee', 'dee@beta.example', 'Dee', true, now());
INSERT INTO teams_team (id, name, slug, created_at, updated_at) VALUES
    (11, 'Alpha', 'alpha', now(), now()), (12, 'Beta', 'beta', now(), now());
INSERT INTO teams_membership (id, team_id, user_id, created_at, updated_at) VALUES
    (1001, 11, 101, now(), now()),  -- admin
    (1002, 11, 102, now(), now()),  -- admin in do-not-disturb
    (1003, 11, 103, now(), now()),  -- viewer: may not manage models
    (2001, 12, 201, now(), now());  -- admin
INSERT INTO teams_membership_groups (membership_id, group_id) VALUES
    (1001, 1), (1002, 1), (1003, 2), (2001, 1);
INSERT INTO ocs_notifications_usernotificationpreferences (user_id, team_id, do_not_disturb_until)
VALUES (102, 11, now() + interval '7 days'), (101, 11, now() - interval '1 day');

INSERT INTO service_providers_llmprovidermodel
    (id, created_at, updated_at, team_id, type, name, max_token_limit, deprecated)
VALUES
    (1, now(), now(), NULL, 'openai', 'gpt-4', 8192, true),
    (2, now(), now(), NULL, 'openai', 'gpt-4o', 128000, false),
    (3, now(), now(), 11, 'openai', 'gpt-4', 8192, false);

INSERT INTO pipelines_pipeline (id, team_id, name, data, is_archived, created_at, updated_at)
VALUES (31, 11, 'Support bot', '{}', false, now(), now()),
       (32, 12, 'Triage', '{}', false, now(), now());
INSERT INTO pipelines_node (pipeline_id, flow_id, type, label, params, is_archived, llm_provider_model_id)
VALUES
    (31, 'n1', 'LLMResponseWithPrompt', 'Answer', '{"llm_provider_model_id": 1, "prompt": "hi"}', false, 1),
    (31, 'n0', 'LLMResponseWithPrompt', 'Answer (v1)', '{"llm_provider_model_id": 1}', true, 1),
    (32, 'n1', 'LLMResponseWithPrompt', 'Route', '{"llm_provider_model_id": "1"}', false, 1),
    (32, 'n2', 'StartNode', 'Start', '{}', false, NULL);
INSERT INTO assistants_openaiassistant
    (team_id, name, assistant_id, instructions, is_archived, llm_provider_model_id, created_at, updated_at)
VALUES
    (11, 'Helper', 'asst_1', '', false, 1, now(), now()),
    (11, 'Helper (old)', 'asst_0', '', true, 1, now(), now()),
    (12, 'Writer', 'asst_2', '', false, 2, now(), now());
INSERT INTO analysis_transcriptanalysis
    (team_id, name, llm_provider_model_id, translation_llm_provider_model_id, created_at, updated_at)
VALUES (11, 'Weekly', 1, 1, now(), now()), (12, 'Daily', 2, NULL, now(), now());
INSERT INTO evaluations_evaluator (team_id, name, type, params, llm_provider_model_id)
VALUES (12, 'Tone', 'LlmEvaluator', '{}', 1);
INSERT INTO documents_collection (team_id, name, contextualizer_llm_model_id, created_at, updated_at)
VALUES (11, 'Docs', 3, now(), now());
INSERT INTO cost_tracking_usagerecord (team_id, provider_type, model_name, input_tokens, output_tokens, created_at)
VALUES (11, 'openai', 'gpt-4', 120, 40, now());
INSERT INTO notifications (user_id, message) VALUES (101, 'the host''s own notification');
INSERT INTO audit_events (action) VALUES ('host.login');

-- Rows above were given explicit ids: move every identity past them, as Django's
-- sqlsequencereset does after loading fixtures.
DO $$
DECLARE r record;
BEGIN
    FOR r IN
        SELECT c.relname AS tab, a.attname AS col
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE a.attidentity <> '' AND n.nspname = current_schema()
    LOOP
        EXECUTE format(
            'SELECT setval(pg_get_serial_sequence(%L, %L), COALESCE(max(%I), 0) + 1, false) FROM %I',
            r.tab, r.col, r.col, r.tab);
    END LOOP;
END
$$;
