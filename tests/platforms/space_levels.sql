-- An Eneo-shaped host: a space's required security level is two keys away (the space
-- names a security classification, the classification holds the level), and so is a
-- model's. uuid keys. The view at the end is what docs/platform-mapping.md tells such a
-- host to create so that the mapping reaches the level through one key.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE TABLE tenants (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL
);
CREATE TABLE users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    email text NOT NULL
);
CREATE TABLE security_classifications (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    name text NOT NULL,
    security_level integer NOT NULL
);
CREATE TABLE completion_models (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    provider text NOT NULL,
    name text NOT NULL,
    token_limit integer NOT NULL,
    tenant_id uuid NULL REFERENCES tenants (id),
    security_classification_id uuid NULL REFERENCES security_classifications (id)
);
CREATE TABLE spaces (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    name text NOT NULL,
    security_classification_id uuid NULL REFERENCES security_classifications (id)
);
CREATE TABLE spaces_completion_models (
    space_id uuid NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    completion_model_id uuid NOT NULL REFERENCES completion_models (id),
    PRIMARY KEY (space_id, completion_model_id)
);
CREATE INDEX spaces_completion_models_model ON spaces_completion_models (completion_model_id);

-- The mapping aid: each space with its tenant and the level its classification requires
-- (NULL when the space has no classification: no minimum).
CREATE VIEW space_security_levels AS
SELECT s.id, s.tenant_id, c.security_level AS required_security_level
FROM spaces s
LEFT JOIN security_classifications c ON c.id = s.security_classification_id;
